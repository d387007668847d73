# install.cmake -- install() rules, man pages (scdoc) and CPack's .deb for snet-tun.
# Included from CMakeLists.txt; paths relative to the source root.
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install prefix" FORCE)
endif()
include(GNUInstallDirs)

# /usr gives /etc and, on Debian, /lib/systemd/system; another prefix keeps everything
# under it (systemd also reads /usr/local/lib/systemd/system).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(SNET_UNITDIR /lib/systemd/system)
else()
  set(SNET_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(SNET_SBIN ${CMAKE_INSTALL_FULL_SBINDIR})
set(SNET_ETC ${CMAKE_INSTALL_FULL_SYSCONFDIR})
configure_file(packaging/snet-tun.service.in ${CMAKE_BINARY_DIR}/snet-tun.service @ONLY)

install(TARGETS snet-tun RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(FILES ${CMAKE_BINARY_DIR}/snet-tun.service DESTINATION ${SNET_UNITDIR})
install(FILES packaging/config.yaml DESTINATION ${SNET_ETC}/snet-tun PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES packaging/logrotate DESTINATION ${SNET_ETC}/logrotate.d RENAME snet-tun)
install(FILES packaging/60-snet-tun.conf DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/sysctl.d)
# Whatever rule data data/ holds (CIDR lists, their sources), looked up at
# /usr/share/snet-tun/ by the template's examples.
file(GLOB SNET_DATA CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/data/*)
if(SNET_DATA)
  install(FILES ${SNET_DATA} DESTINATION ${CMAKE_INSTALL_DATADIR}/snet-tun)
endif()
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES config.yaml DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME config-annotated.yaml)

# Man pages from man/*.scd, when scdoc is there (part of ALL then, and installed).
find_program(SCDOC scdoc)
if(SCDOC)
  file(GLOB SNET_MAN_SRC CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/man/*.scd)
  set(SNET_MAN_OUT)
  foreach(src ${SNET_MAN_SRC})
    get_filename_component(page ${src} NAME_WE)       # snet-tun.yaml.5.scd -> snet-tun
    get_filename_component(full ${src} NAME)
    string(REGEX REPLACE "\\.scd$" "" page ${full})   # snet-tun.yaml.5
    string(REGEX REPLACE "^.*\\.([0-9])$" "\\1" section ${page})
    set(out ${CMAKE_BINARY_DIR}/man/${page}.gz)
    add_custom_command(OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND sh -c "${SCDOC} < \"$1\" | gzip -9n > \"$2\"" scdoc ${src} ${out}
      DEPENDS ${src} VERBATIM COMMENT "scdoc ${full}")
    list(APPEND SNET_MAN_OUT ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(man ALL DEPENDS ${SNET_MAN_OUT})
else()
  message(STATUS "scdoc not found: no man pages (bash scripts/deps installs it)")
endif()

# cpack -G DEB: snet-tun_VERSION_amd64.deb, dependencies from dpkg-shlibdeps.
set(CPACK_PACKAGE_NAME snet-tun)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "snet-tun maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "route this machine's traffic through an encrypted upstream proxy")
set(CPACK_PACKAGE_DESCRIPTION "snet-tun captures a machine's outgoing TCP connections \
and UDP flows (a tun device with lwIP, or nftables redirection) and relays them through \
shadowsocks AEAD, HTTP CONNECT, HTTPS, SOCKS5 or directly, with a split DNS resolver and \
a cache.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "CMAKE_INSTALL_PREFIX is ${CMAKE_INSTALL_PREFIX}: a .deb made here installs "
                 "there, not in /usr and /etc (configure a fresh build dir for the package)")
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/conffiles ${CMAKE_SOURCE_DIR}/packaging/postinst
    ${CMAKE_SOURCE_DIR}/packaging/prerm ${CMAKE_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only the runtime: no test binaries, no static libraries.
set(CPACK_STRIP_FILES ON)
include(CPack)

{
  "targets": [
    {
      "target_name": "ebpm_native",
      "sources": ["addon.c", "object.c", "attach.c", "maps.c", "events.c", "guest.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_c": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-Werror"],
      "libraries": ["<!@(pkg-config --libs libbpf)", "-lelf", "-lz"]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "cloudy_fuse",
      "sources": ["cloudy_fuse.c"],
      "include_dirs": ["/usr/include/fuse3"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "libraries": ["-lfuse3", "-lpthread"]
    }
  ]
}

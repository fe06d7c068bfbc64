{
  "targets": [
    {
      "target_name": "torchlet_cpu",
      "sources": [
        "native/addon.cc",
        "native/common.cc",
        "native/batch_gather.cc",
        "native/conv.cc",
        "native/conv_direct.cc",
        "native/conv_lanes.cc",
        "native/elementwise.cc",
        "native/host_memory.cc",
        "native/layout.cc",
        "native/matmul.cc",
        "native/norm.cc",
        "native/pool.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++14", "-O2", "-O0"],
      "cflags_cc": ["-std=c++17", "-O3", "-march=native", "-fexceptions", "-fopenmp", "-Wall", "-Wno-unused-parameter"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-lgomp"],
      "conditions": [["OS=='linux' and target_arch=='x64'", {"libraries": ["-lmvec"]}]],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-Xpreprocessor", "-fopenmp"]
      }
    }
  ]
}

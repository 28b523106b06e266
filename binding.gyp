{
  # Three products from native/:
  #  - hull_native.node: the Node-API addon (host-side primitives only; see src/native.ts)
  #  - hull-helper: the single-threaded, statically linked helper that creates namespaces,
  #    mounts and pivots for a container and then stays as its monitor (docs/internals/plan.md)
  #  - hull-probe: a tiny static program tests copy into images to report what a container sees
  "target_defaults": {
    "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-fno-strict-aliasing"],
    "cflags_cc": ["-std=c++17"],
    "defines": ["_GNU_SOURCE"]
  },
  "targets": [
    {
      "target_name": "hull_native",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/fs.cc",
        "native/proc.cc",
        "native/sock.cc",
        "native/mount.cc",
        "native/overlay.cc",
        "native/layer.cc",
        "native/spawn.cc",
        "native/cgroup.cc",
        "native/userns.cc",
        "native/seccomp.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags!": ["-fno-exceptions"],
      "defines": ["HULL_ADDON=1", "NAPI_VERSION=8"]
    },
    {
      "target_name": "hull-helper",
      "type": "executable",
      "sources": [
        "native/helper.cc",
        "native/helper-container.cc",
        "native/helper-report.cc",
        "native/helper-log.cc",
        "native/plan.cc",
        "native/mount.cc",
        "native/ns.cc",
        "native/caps.cc",
        "native/seccomp.cc",
        "native/tty.cc"
      ],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags!": ["-fno-exceptions"],
      # Every container starts by copying this binary into a sealed memfd and executing the copy
      # (CVE-2019-5736): a smaller binary is a cheaper copy. Unused sections dropped, symbols
      # stripped (docs/internals/helper.md, "Start-up cost").
      # It also stays as each container's monitor, and its whole sealed copy is resident there:
      # optimise for size (-Os: ~10% smaller than -O2, no measurable start-up cost).
      "cflags": ["-Os", "-ffunction-sections", "-fdata-sections"],
      "cflags_cc": ["-Os"],
      "ldflags": ["-static", "-Wl,--gc-sections", "-s"]
    },
    {
      "target_name": "hull-probe",
      "type": "executable",
      "sources": ["native/probe.c"],
      "ldflags": ["-static"]
    }
  ]
}

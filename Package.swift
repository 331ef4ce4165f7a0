// swift-tools-version:5.5
// Swift Package Manager manifest: MPMssAdapter (the iOS Objective-C shim) over the libmpsync C core, both built from source.
// SPDX-License-Identifier: Apache-2.0
//
// Before the first build run scripts/ios_generate.sh (version.h and the protoc-c code, which
// CMake makes elsewhere). libuv, mbedTLS and protobuf-c are not built by SwiftPM: the app puts
// each as an XCFramework of static libraries with headers in Dependencies/ next to this file
// (scripts/xcframework.sh makes them from per-slice builds; docs/IOS.md). A missing one is left
// out here, and the C target then fails to compile at its #include, naming the header.
import Foundation
import PackageDescription

let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
let dependencyNames = ["uv", "mbedtls", "mbedx509", "mbedcrypto", "protobuf_c"]
let dependencies = dependencyNames.filter {
  FileManager.default.fileExists(atPath: root.appendingPathComponent("Dependencies/\($0).xcframework").path)
}

let package = Package(
  name: "MPMssAdapter",
  platforms: [.iOS(.v12)],
  products: [
    .library(name: "MPMssAdapter", targets: ["MPMssAdapter"]),
  ],
  targets: [
    // The C core: every file of src/ (all of them are the library) plus the generated protocol code.
    .target(
      name: "CMpsync",
      dependencies: dependencies.map { .target(name: $0) },
      path: ".",
      sources: ["src", "bindings/objc/generated/proto"],
      publicHeadersPath: "include",
      cSettings: [
        .define("MPSYNC_BUILDING"),
        .headerSearchPath("src"),
        .headerSearchPath("src/core"),
        .headerSearchPath("bindings/objc/generated/include"),
        .headerSearchPath("bindings/objc/generated/proto"),
      ],
      linkerSettings: [.linkedLibrary("sqlite3")]
    ),
    // The vendor API; the .m imports <MPMssAdapter/...> and <mpsync/mpsync.h>.
    .target(
      name: "MPMssAdapter",
      dependencies: ["CMpsync"],
      path: "bindings/objc",
      sources: ["MPMssAdapter/MPSyncInterface.m"],
      publicHeadersPath: "MPMssAdapter",
      cSettings: [
        .headerSearchPath("."),
        .headerSearchPath("generated/include"),
      ],
      linkerSettings: [.linkedFramework("Foundation"), .linkedFramework("UIKit"),
                       .linkedFramework("Security")]
    ),
  ] + dependencies.map { .binaryTarget(name: $0, path: "Dependencies/\($0).xcframework") }
)

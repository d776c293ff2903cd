// swift-tools-version:5.9
// OutreachKit, two targets over the generated bindings:
//
//   OutreachCore  the non-UI code (Core.run, Messages, Vocab, Dates, the
//                 draft, visit and report helpers): Foundation and the
//                 bindings only, so it also builds on Linux against the
//                 host's liboutreach_ffi.so (scripts/build-swift-linux.sh;
//                 scripts/check-swift.py checks it imports nothing Apple-only).
//   OutreachKit   the @MainActor stores (ObservableObject), the Keychain /
//                 Secure Enclave key store, background sync: Apple only.
//
// The bindings are generated into Generated/ (inside the package: SwiftPM
// refuses a target path outside it; not in git): on macOS by
// scripts/build-xcframework.sh (the XCFramework as a binary target), on
// Linux by scripts/build-swift-linux.sh (the C header as a system library
// with its own module map, linked with -loutreach_ffi; the script passes
// -L and -rpath). Neither has been run on the project's machines: there is
// no Swift compiler there.
import PackageDescription

#if os(Linux)
let ffi: [Target] = [
    .systemLibrary(name: "outreach_ffiFFI", path: "Generated/outreach_ffiFFI"),
    .target(name: "OutreachFFI", dependencies: ["outreach_ffiFFI"], path: "Generated/OutreachFFI"),
]
let apple: [Target] = []
let tests: [Target] = [
    .testTarget(name: "OutreachCoreTests", dependencies: ["OutreachCore", "OutreachFFI"], path: "Tests/OutreachCoreTests"),
]
let products: [Product] = [.library(name: "OutreachCore", targets: ["OutreachCore"])]
#else
let ffi: [Target] = [
    .binaryTarget(name: "OutreachFFIBinary", path: "Generated/OutreachFFI.xcframework"),
    // The generated outreach_ffi.swift (copied here by the build script).
    .target(name: "OutreachFFI", dependencies: ["OutreachFFIBinary"], path: "Generated/OutreachFFI"),
]
let apple: [Target] = [
    .target(name: "OutreachKit", dependencies: ["OutreachCore", "OutreachFFI"], path: "Sources/OutreachKit"),
]
// The tests link the host library, which the iOS XCFramework does not have: run them on Linux.
let tests: [Target] = []
let products: [Product] = [
    .library(name: "OutreachKit", targets: ["OutreachKit"]),
    .library(name: "OutreachCore", targets: ["OutreachCore"]),
]
#endif

let package = Package(
    name: "OutreachKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: products,
    targets: ffi + [
        .target(name: "OutreachCore", dependencies: ["OutreachFFI"], path: "Sources/OutreachCore"),
    ] + apple + tests
)

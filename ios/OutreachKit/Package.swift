// swift-tools-version:5.9
// OutreachKit: the XCFramework built by scripts/build-xcframework.sh (binary
// target), the generated Swift bindings, and the thin Swift layer every
// screen uses. Needs macOS with Xcode; nothing here builds on Linux.
import PackageDescription

let package = Package(
    name: "OutreachKit",
    platforms: [.iOS(.v16)],
    products: [.library(name: "OutreachKit", targets: ["OutreachKit"])],
    targets: [
        .binaryTarget(name: "OutreachFFIBinary", path: "../../build/ios/OutreachFFI.xcframework"),
        // The generated outreach_ffi.swift (copied here by the build script).
        .target(name: "OutreachFFI", dependencies: ["OutreachFFIBinary"], path: "../../build/ios/Sources/OutreachFFI"),
        .target(name: "OutreachKit", dependencies: ["OutreachFFI"], path: "Sources/OutreachKit"),
    ]
)

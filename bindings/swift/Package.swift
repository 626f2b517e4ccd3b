// swift-tools-version:5.9
// The Swift package of frontdesk: the generated bindings (generated/Frontdesk.swift), an AsyncStream
// adapter over the listeners (Sources/Events.swift) and the Rust library as an XCFramework built by
// build-xcframework.sh on a Mac with Xcode. Not built on the Linux machines the project is tested on.
import PackageDescription

let package = Package(
    name: "Frontdesk",
    platforms: [.iOS(.v13), .macOS(.v11)],
    products: [.library(name: "Frontdesk", targets: ["Frontdesk"])],
    targets: [
        .binaryTarget(name: "FrontdeskFFI", path: "build/FrontdeskFFI.xcframework"),
        .target(
            name: "Frontdesk",
            dependencies: ["FrontdeskFFI"],
            path: ".",
            exclude: ["build-xcframework.sh", "generated/FrontdeskFFI.h", "generated/FrontdeskFFI.modulemap"],
            sources: ["generated/Frontdesk.swift", "Sources/Events.swift"]
        ),
    ]
)

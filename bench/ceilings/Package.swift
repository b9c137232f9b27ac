// swift-tools-version:6.2
// Reference servers for bench/run's HTTP ceilings: the same no-I/O answer as `GET /healthz`, served
// by a responder on HummingbirdCore without the router, and by bare SwiftNIO HTTP/1. Instruments for
// choosing the service's HTTP path (docs/performance.md), not part of the service; CI never builds them.
import PackageDescription

let package = Package(
    name: "ceilings",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.16.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.3.0"),
    ],
    targets: [
        .executableTarget(
            name: "core-responder",
            dependencies: [
                .product(name: "HummingbirdCore", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "nio-http1",
            dependencies: [.product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")]
        ),
    ]
)

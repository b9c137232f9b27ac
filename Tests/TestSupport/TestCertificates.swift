import Foundation

/// Certificates for TLS tests, made with `openssl` in a temporary folder: a private CA, Redis's
/// certificate from it (for `localhost` and 127.0.0.1), one that expired, one for another name, a client
/// certificate for mutual TLS, and a second CA that signed none of them.
public final class TestCertificates: Sendable {
    public let directory: URL

    public init() throws {
        self.directory = FileManager.default.temporaryDirectory.appendingPathComponent("hitcounter-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        let subject = "/O=HitCounter tests"
        try self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                          "-subj", "\(subject)/CN=test CA", "-keyout", "ca.key", "-out", "ca.crt"])
        try self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
                          "-subj", "\(subject)/CN=another CA", "-keyout", "other-ca.key", "-out", "other-ca.crt"])
        try self.issue("server", names: "DNS:localhost,IP:127.0.0.1")
        try self.issue("elsewhere", names: "DNS:redis.example")
        try self.issue("client", names: "DNS:hitcounter")
        try self.issue("expired", names: "DNS:localhost,IP:127.0.0.1", from: "20200101000000Z", until: "20200102000000Z")
    }

    /// The path of `name` (`ca.crt`, `server.key`, ...).
    public func path(_ name: String) -> String { self.directory.appendingPathComponent(name).path }

    /// `redis-server` arguments for TLS on `port` with `certificate` (`server`, `expired`, `elsewhere`);
    /// with `clients`, a client certificate from the CA is required.
    public func redisArguments(port: Int, certificate: String = "server", clients: Bool = false) -> [String] {
        ["--tls-port", "\(port)", "--tls-cert-file", self.path("\(certificate).crt"), "--tls-key-file", self.path("\(certificate).key"),
         "--tls-ca-cert-file", self.path("ca.crt"), "--tls-auth-clients", clients ? "yes" : "no"]
    }

    /// A key and a certificate signed by the CA, for `names` (subjectAltName), valid from now for 30
    /// days or between two dates (`openssl ca`, which alone can set them).
    private func issue(_ name: String, names: String, from: String? = nil, until: String? = nil) throws {
        try self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/O=HitCounter tests/CN=\(name)",
                          "-addext", "subjectAltName=\(names)", "-keyout", "\(name).key", "-out", "\(name).csr"])
        let config = """
            [ca]
            default_ca = test
            [test]
            dir = \(self.directory.path)
            database = $dir/index-\(name).txt
            new_certs_dir = $dir
            serial = $dir/serial-\(name)
            default_md = sha256
            default_days = 30
            policy = any
            copy_extensions = copy
            [any]
            commonName = supplied
            """
        try config.write(to: self.directory.appendingPathComponent("\(name).cnf"), atomically: true, encoding: .utf8)
        try Data().write(to: self.directory.appendingPathComponent("index-\(name).txt"))
        try "01\n".write(to: self.directory.appendingPathComponent("serial-\(name)"), atomically: true, encoding: .utf8)
        var arguments = ["ca", "-batch", "-notext", "-config", "\(name).cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", "\(name).csr", "-out", "\(name).crt"]
        if let from, let until { arguments += ["-startdate", from, "-enddate", until] }
        try self.openssl(arguments)
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = try executable("openssl")
        process.arguments = arguments
        process.currentDirectoryURL = self.directory
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw RedisServerError("openssl \(arguments.joined(separator: " ")) failed: \(String(decoding: message, as: UTF8.self))")
        }
    }

    deinit {
        try? FileManager.default.removeItem(at: self.directory)
    }
}

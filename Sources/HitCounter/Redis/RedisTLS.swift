import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// TLS to Redis (`rediss://`): the server's certificate verified against the system's trust store or
/// a CA file, its name checked, and optionally a client certificate for mutual TLS (docs/deployment.md).
///
/// The files are read on every connection attempt, not once: a rotated Secret takes effect at the
/// next reconnect, without a restart.
public struct RedisTLS: Sendable, Equatable {
    /// PEM file of the CA(s) to trust instead of the system's trust store.
    public var caFile: String?
    /// PEM files of a client certificate (chain) and its key, for servers that ask for one.
    public var certificateFile: String?
    public var keyFile: String?
    /// False only by an explicit setting, which the service logs loudly: no certificate check at all.
    public var verifiesCertificate: Bool

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, verifiesCertificate: Bool = true) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.verifiesCertificate = verifiesCertificate
    }

    /// A context with the files as they are now. Reads files: call it off the event loops.
    func makeContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = self.verifiesCertificate ? .fullVerification : .none
        if let caFile = self.caFile {
            configuration.trustRoots = .certificates(try Self.certificates(caFile, what: "CA file"))
        }
        if let certificateFile = self.certificateFile, let keyFile = self.keyFile {
            configuration.certificateChain = try Self.certificates(certificateFile, what: "client certificate").map { .certificate($0) }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw RedisError.connectionFailed("TLS: cannot read the client key \(keyFile): \(error)")
            }
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw RedisError.connectionFailed("TLS: \(error)")
        }
    }

    /// The handler of one connection to `host`; a failed certificate check leaves its reason in
    /// `diagnosis`.
    static func handler(_ context: NIOSSLContext, host: String, diagnosis: TLSDiagnosis) throws -> NIOSSLClientHandler {
        // An IP address is not a name to send (SNI) or check: NIOSSL checks it against the certificate's
        // IP addresses instead.
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        // BoringSSL's error says only CERTIFICATE_VERIFY_FAILED. This callback (deprecated in NIOSSL for
        // ones that replace the check; this one keeps its result) sees each certificate the check
        // refused, so the error can say why.
        return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host) { result, certificate in
            if case .failed = result { diagnosis.note(certificate) }
            return result
        }
    }

    private static func certificates(_ file: String, what: String) throws -> [NIOSSLCertificate] {
        do {
            return try NIOSSLCertificate.fromPEMFile(file)
        } catch {
            throw RedisError.connectionFailed("TLS: cannot read the \(what) \(file): \(error)")
        }
    }
}

/// Why the certificate check of one connection attempt failed, in words an operator can act on.
final class TLSDiagnosis: Sendable {
    private let reason = NIOLockedValueBox<String?>(nil)

    var text: String? { self.reason.withLockedValue { $0 } }

    /// Notes the first certificate the check refused.
    func note(_ certificate: NIOSSLCertificate) {
        let now = time(nil)
        let reason: String
        if certificate.notValidAfter < now {
            reason = "Redis's certificate expired on \(Self.date(certificate.notValidAfter))"
        } else if certificate.notValidBefore > now {
            reason = "Redis's certificate is not valid before \(Self.date(certificate.notValidBefore))"
        } else {
            reason = "Redis's certificate is not signed by a CA this service trusts (--redis-tls-ca)"
        }
        self.reason.withLockedValue { if $0 == nil { $0 = reason } }
    }

    private static func date(_ seconds: time_t) -> String {
        Date(timeIntervalSince1970: TimeInterval(seconds)).formatted(.iso8601)
    }
}

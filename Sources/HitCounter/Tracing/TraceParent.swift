import NIOCore
import Tracing

/// The span a store call runs under, handed down so that the Redis round trip serving the call
/// becomes its child. Nil everywhere when the counter has no tracer: untraced calls make no span.
public struct TraceParent: Sendable {
    public let tracer: any Tracer
    public let context: ServiceContext

    public init(tracer: any Tracer, context: ServiceContext) {
        self.tracer = tracer
        self.context = context
    }

    /// A span under this parent, with `attributes` (built only when the span records).
    func startChild(_ name: String, ofKind kind: SpanKind, attributes: () -> SpanAttributes) -> any Span {
        let span = self.tracer.startSpan(name, context: self.context, ofKind: kind)
        if span.isRecording { span.attributes.merge(attributes()) }
        return span
    }
}

extension EventLoopFuture {
    /// Ends `spans` when this completes, each marked as failed with the error if it fails.
    func ending(_ spans: [any Span]) -> EventLoopFuture<Value> {
        guard !spans.isEmpty else { return self }
        self.whenComplete { result in
            for span in spans {
                if case .failure(let error) = result {
                    span.recordError(error)
                    span.setStatus(SpanStatus(code: .error))
                }
                span.end()
            }
        }
        return self
    }
}

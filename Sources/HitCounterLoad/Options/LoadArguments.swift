import ArgumentParser

/// The flags that shape a run, as typed; `LoadOptions` checks them.
struct LoadArguments: ParsableArguments {
    @Option(
        name: .customLong("url"),
        help: "Target base URL; repeat for several instances, connections go round-robin (default http://127.0.0.1:8080)."
    )
    var urls: [String] = []

    @Flag(help: "Allow targets that are not loopback (127.0.0.0/8, ::1, localhost).")
    var allowRemote = false

    @Option(help: "Keep-alive HTTP/1.1 connections.")
    var connections = 16

    @Option(help: "Event loop threads of the load tool; 1 leaves the other core to the server.")
    var threads = 1

    @Option(help: "Open loop: requests per second in total, on a fixed schedule. Without it: closed loop, as fast as answers come.")
    var rate: Double?

    @Option(help: "How long to send: 10, 10s, 500ms, 2m (at most 10m).")
    var duration: String?

    @Option(help: "How many requests to send in total.")
    var requests: Int?

    @Option(help: "How long to wait for each answer (and for each connect) before counting a timeout.")
    var timeout = "5s"

    @Option(help: "Operations and weights: hit (POST /hit), batch (POST /hit/batch, 100 hits each), hits (GET /hits), series (GET /series), top (GET /top), healthz, readyz. Such as hit=80,hits=20 or healthz=100.")
    var mix = RequestMix.default.description

    @Option(help: "Use N keys, PREFIX0 to PREFIX{N-1}, chosen uniformly (default: the one key `default`).")
    var keys: Int?

    @Option(help: "The prefix of numbered keys (default k).")
    var keyPrefix: String?

    @Flag(help: "Numbered keys in order (PREFIX0, PREFIX1, ...) instead of at random: with --threads 1, --requests N and --keys N, each key gets exactly one request.")
    var sequentialKeys = false

    @Option(
        name: .customLong("range"),
        help: "Window in seconds of GET /hits; repeat or separate with commas to choose uniformly among several (default 60)."
    )
    var ranges: [String] = []

    @Option(help: "The count of each POST /hit.")
    var count = 1

    @Flag(help: "Give each POST /hit a unique id (&id=...): its 2xx answers are the hits acknowledged, to compare with what the service counted (GET /hits?unique=true).")
    var ids = false
}

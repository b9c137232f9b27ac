/// Runs `pass` every 50 ms until it answers more than zero, or 20 s went by; answers its last answer.
/// For waiting out a roll-up's retry backoffs: the passes bound time from below, which a busy machine
/// only lengthens.
public func passEvery50Milliseconds(until pass: () async throws -> Int) async throws -> Int {
    var answer = 0
    let deadline = ContinuousClock.now + .seconds(20)
    while answer == 0, ContinuousClock.now < deadline {
        try await Task.sleep(for: .milliseconds(50))
        answer = try await pass()
    }
    return answer
}

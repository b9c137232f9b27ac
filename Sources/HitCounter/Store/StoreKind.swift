/// The two homes of hits: Redis (shared by replicas) or this process's memory.
public enum StoreKind: String, Sendable, CaseIterable {
    case memory
    case redis
}

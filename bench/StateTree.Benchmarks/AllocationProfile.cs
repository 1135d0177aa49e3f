using System.Diagnostics.Tracing;

namespace StateTree.Benchmarks;

/// <summary>
/// Which types an operation allocates, from the runtime's sampled GC AllocationTick events (one per
/// ~100 KB allocated, carrying the type of the object that crossed the threshold). Enough to see what
/// dominates an operation's allocation without an external profiler.
/// </summary>
public sealed class AllocationProfile : EventListener
{
    private const EventKeywords GcKeyword = (EventKeywords)0x1;
    private readonly Dictionary<string, long> bytesByType = [];
    private bool recording;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(source, EventLevel.Verbose, GcKeyword);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (!recording || e.EventName is null || !e.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || e.Payload is null)
            return;
        var type = e.PayloadNames!.IndexOf("TypeName") is var t and >= 0 ? e.Payload[t] as string ?? "?" : "?";
        var amount = e.PayloadNames.IndexOf("AllocationAmount64") is var a and >= 0 ? Convert.ToInt64(e.Payload[a]) : 0;
        lock (bytesByType)
            bytesByType[type] = bytesByType.GetValueOrDefault(type) + amount;
    }

    public IReadOnlyList<(string Type, double Share)> Record(Action run)
    {
        lock (bytesByType)
            bytesByType.Clear();
        recording = true;
        run();
        recording = false;
        lock (bytesByType)
        {
            var total = (double)Math.Max(1, bytesByType.Values.Sum());
            return bytesByType.OrderByDescending(kv => kv.Value).Select(kv => (kv.Key, kv.Value / total)).ToList();
        }
    }
}

namespace StateTree.Checkpoint;

/// <summary>How <see cref="Safetensors.Save"/> writes a checkpoint.</summary>
public sealed class SafetensorsOptions
{
    /// <summary>The options <see cref="Safetensors.Save"/> uses when given none.</summary>
    public static SafetensorsOptions Default { get; } = new();

    /// <summary>
    /// The <c>__metadata__</c> map (string to string), written with keys in ordinal order. Null (the default)
    /// writes <c>{"format": "pt"}</c>, which Python's <c>safetensors</c> and <c>transformers</c> expect. An
    /// empty map writes no <c>__metadata__</c> at all, unless the state needs a structure record (see
    /// <see cref="StoreStructure"/>), which then is its only entry.
    /// </summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }

    /// <summary>
    /// Also record what the tensors alone cannot say, so that <c>Load(Save(s)) == s</c> exactly: each
    /// leaf's <see cref="Variable"/> type and metadata, leaves that are arrays or <see cref="RawTensor"/>s rather
    /// than <c>Tensor&lt;T&gt;</c>s, and empty sub-states. The record is the JSON text of the
    /// <c>__metadata__</c> entry <c>"statetree.structure"</c>, written only when the state needs it (a state
    /// of bare tensors and scalars gets none). Default true. False writes the tensors alone: the file then
    /// loads as bare tensors and scalars, as any safetensors file does.
    /// </summary>
    public bool StoreStructure { get; init; } = true;

    /// <summary>
    /// The most tensor bytes one file may hold; null (the default) writes one file. When the tensors do not fit,
    /// they go in Hugging Face shards beside the target: <c>model-00001-of-00003.safetensors</c>, … with the
    /// index <c>model.safetensors.index.json</c>. A tensor larger than the limit gets a shard of its own.
    /// </summary>
    public long? MaxShardBytes { get; init; }
}

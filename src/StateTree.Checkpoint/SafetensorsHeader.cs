namespace StateTree.Checkpoint;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The tensor's name (a dotted path, see <see cref="TensorNames"/>).</param>
/// <param name="Dtype">The safetensors dtype (<c>"F32"</c>, <c>"BF16"</c>, …).</param>
/// <param name="Shape">The dimensions; empty for a scalar.</param>
/// <param name="Begin">The first byte, relative to the start of the data buffer.</param>
/// <param name="End">One past the last byte, relative to the start of the data buffer.</param>
public sealed record TensorInfo(string Name, string Dtype, long[] Shape, long Begin, long End)
{
    /// <summary>The number of elements (the product of <see cref="Shape"/>; 1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape)
                n *= d;
            return n;
        }
    }

    /// <summary>The number of data bytes, <c>End - Begin</c>.</summary>
    public long ByteLength => End - Begin;

    /// <summary>
    /// The file the tensor is in, for a header read from a sharded checkpoint's index (a file name in the index's
    /// folder); null for a header read from one file.
    /// </summary>
    public string? File { get; init; }

    /// <summary>Equal when every field is, the shape element by element.</summary>
    /// <param name="other">Another tensor entry.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(TensorInfo? other) =>
        other is not null
        && Name == other.Name
        && Dtype == other.Dtype
        && Shape.AsSpan().SequenceEqual(other.Shape)
        && Begin == other.Begin
        && End == other.End
        && File == other.File;

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Name, Dtype, Shape.Length, Begin, End, File);

    /// <summary><c>name: F32[2,3] @ [begin, end)</c>.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => $"{Name}: {Dtype}[{string.Join(",", Shape)}] @ [{Begin}, {End})";
}

/// <summary>A safetensors header, read without any tensor data (<see cref="Safetensors.ReadHeader(string)"/>).</summary>
public sealed class SafetensorsHeader
{
    internal SafetensorsHeader(IReadOnlyDictionary<string, string> metadata, IReadOnlyList<TensorInfo> tensors, long headerLength)
    {
        Metadata = metadata;
        Tensors = tensors;
        HeaderLength = headerLength;
        long parameters = 0, bytes = 0;
        foreach (var t in tensors)
        {
            parameters += t.ElementCount;
            bytes += t.ByteLength;
        }

        ParameterCount = parameters;
        DataLength = bytes;
    }

    /// <summary>
    /// The <c>__metadata__</c> map (empty when the file has none), in ordinal key order. For a sharded
    /// checkpoint: the index's <c>metadata</c> object, values that are not strings as their JSON text.
    /// </summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The tensors in file (offset) order; for a sharded checkpoint, shard by shard in the index's order.</summary>
    public IReadOnlyList<TensorInfo> Tensors { get; }

    /// <summary>The total number of elements of all tensors (the model's parameter count when every tensor is a parameter).</summary>
    public long ParameterCount { get; }

    /// <summary>The total number of tensor data bytes (for a sharded checkpoint, of all shards).</summary>
    public long DataLength { get; }

    /// <summary>
    /// The length of the JSON header, padding included (the 8-byte length prefix excluded); for a sharded
    /// checkpoint, the sum over its shards.
    /// </summary>
    public long HeaderLength { get; }
}

namespace StateTree.Checkpoint;

/// <summary>
/// A tensor kept as raw little-endian bytes with its safetensors dtype and shape: what the loader gives for
/// dtypes .NET has no type for (<c>F8_E4M3</c>, <c>F8_E5M2</c>, <c>F4</c>, <c>F6_*</c>, <c>C64</c>, …), and
/// what the writer stores byte for byte. Equality is by dtype, shape and bytes.
/// </summary>
/// <remarks>
/// Treat it as immutable: the constructor does not copy <see cref="Data"/>. A <see cref="RawTensor"/> of a
/// dtype that has a .NET type (say <c>F32</c>) is valid too; a checkpoint with its structure record loads it
/// back as a <see cref="RawTensor"/>, a foreign read gives the typed tensor.
/// </remarks>
public sealed class RawTensor : IEquatable<RawTensor>
{
    private readonly long[] shape;
    private readonly byte[] data;

    /// <summary>A raw tensor.</summary>
    /// <param name="dtype">A safetensors dtype name (<c>"F8_E4M3"</c>, …), case-sensitive.</param>
    /// <param name="shape">The dimensions (empty for a scalar); copied.</param>
    /// <param name="data">The row-major little-endian bytes (not copied).</param>
    /// <exception cref="ArgumentNullException">An argument is null.</exception>
    /// <exception cref="ArgumentException">
    /// The dtype is unknown, a dimension is negative, or the byte length differs from the element count
    /// times the dtype's width (whole bytes only).
    /// </exception>
    public RawTensor(string dtype, long[] shape, byte[] data)
    {
        ArgumentNullException.ThrowIfNull(dtype);
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(data);
        if (!Dtypes.TryGet(dtype, out var d))
            throw new ArgumentException($"Unknown safetensors dtype '{dtype}'.", nameof(dtype));
        long count = 1;
        foreach (var n in shape)
        {
            if (n < 0)
                throw new ArgumentException($"The shape [{string.Join(",", shape)}] has a negative dimension.", nameof(shape));
            try
            {
                count = checked(count * n);
            }
            catch (OverflowException)
            {
                throw new ArgumentException($"The shape [{string.Join(",", shape)}] has too many elements.", nameof(shape));
            }
        }

        if (Dtypes.ByteLength(d, count) is not { } bytes || bytes != data.LongLength)
            throw new ArgumentException(
                $"A {dtype} tensor of shape [{string.Join(",", shape)}] needs a whole number of bytes equal to its size; got {data.LongLength} bytes.",
                nameof(data));
        Dtype = dtype;
        this.shape = (long[])shape.Clone();
        this.data = data;
    }

    /// <summary>The safetensors dtype name.</summary>
    public string Dtype { get; }

    /// <summary>The dimensions (empty for a scalar).</summary>
    public IReadOnlyList<long> Shape => shape;

    /// <summary>The row-major little-endian bytes.</summary>
    public ReadOnlyMemory<byte> Data => data;

    internal long[] ShapeArray => shape;

    internal byte[] DataArray => data;

    /// <summary>Same dtype, shape and bytes.</summary>
    /// <param name="other">Another raw tensor.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(RawTensor? other) =>
        other is not null
        && (ReferenceEquals(this, other)
            || (Dtype == other.Dtype && shape.AsSpan().SequenceEqual(other.shape) && data.AsSpan().SequenceEqual(other.data)));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is RawTensor r && Equals(r);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        h.Add(Dtype);
        foreach (var n in shape)
            h.Add(n);
        h.AddBytes(data.AsSpan(0, Math.Min(data.Length, 64)));
        return h.ToHashCode();
    }

    /// <summary>The dtype and shape, as the state printer shows tensors: <c>F8_E4M3[2,3]</c>.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => $"{Dtype}[{string.Join(",", shape)}]";
}

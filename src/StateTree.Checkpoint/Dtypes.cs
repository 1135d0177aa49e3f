using System.Diagnostics.CodeAnalysis;

namespace StateTree.Checkpoint;

/// <summary>One safetensors dtype: its name, width in bits, rank in the writer's order and .NET element type.</summary>
/// <param name="Name">The name in the header (<c>"F32"</c>).</param>
/// <param name="Bits">Bits per element (4 and 6 for the sub-byte float formats).</param>
/// <param name="Order">
/// The position in the reference implementation's <c>Dtype</c> enum (increasing alignment); the writer
/// stores tensors by descending order, then by name.
/// </param>
/// <param name="ElementType">The .NET element type values of this dtype load as; null when they stay <see cref="RawTensor"/>s.</param>
internal sealed record Dtype(string Name, int Bits, int Order, Type? ElementType)
{
    /// <summary>Bytes per element when the width is whole bytes, else 0.</summary>
    public int Size => Bits % 8 == 0 ? Bits / 8 : 0;
}

/// <summary>The table of dtypes, in the reference implementation's enum order.</summary>
internal static class Dtypes
{
    private static readonly Dtype[] All =
    [
        new("BOOL", 8, 0, typeof(bool)),
        new("F4", 4, 1, null),
        new("F6_E2M3", 6, 2, null),
        new("F6_E3M2", 6, 3, null),
        new("U8", 8, 4, typeof(byte)),
        new("I8", 8, 5, typeof(sbyte)),
        new("F8_E5M2", 8, 6, null),
        new("F8_E4M3", 8, 7, null),
        new("F8_E8M0", 8, 8, null),
        new("F8_E4M3FNUZ", 8, 9, null),
        new("F8_E5M2FNUZ", 8, 10, null),
        new("I16", 16, 11, typeof(short)),
        new("U16", 16, 12, typeof(ushort)),
        new("F16", 16, 13, typeof(Half)),
        new("BF16", 16, 14, typeof(BFloat16)),
        new("I32", 32, 15, typeof(int)),
        new("U32", 32, 16, typeof(uint)),
        new("F32", 32, 17, typeof(float)),
        new("C64", 64, 18, null),
        new("F64", 64, 19, typeof(double)),
        new("I64", 64, 20, typeof(long)),
        new("U64", 64, 21, typeof(ulong)),
    ];

    private static readonly Dictionary<string, Dtype> ByName = All.ToDictionary(d => d.Name, StringComparer.Ordinal);

    private static readonly Dictionary<Type, Dtype> ByType =
        All.Where(d => d.ElementType is not null).ToDictionary(d => d.ElementType!);

    /// <summary>Every dtype, in enum order.</summary>
    public static IReadOnlyList<Dtype> List => All;

    /// <summary>The dtype of a header name (case-sensitive, as the reference).</summary>
    public static bool TryGet(string name, [NotNullWhen(true)] out Dtype? dtype) => ByName.TryGetValue(name, out dtype);

    /// <summary>The dtype whose values load as <paramref name="elementType"/>.</summary>
    public static bool TryGet(Type elementType, [NotNullWhen(true)] out Dtype? dtype) => ByType.TryGetValue(elementType, out dtype);

    /// <summary>The dtype of a name known to be valid.</summary>
    public static Dtype Get(string name) => ByName[name];

    /// <summary>
    /// The byte length of <paramref name="elements"/> elements, or null when the bit count is not a
    /// whole number of bytes (the reference's <c>MisalignedSlice</c>) or overflows.
    /// </summary>
    public static long? ByteLength(Dtype dtype, long elements)
    {
        if (elements < 0)
            return null;
        if (elements > long.MaxValue / dtype.Bits)
            return null;
        var bits = elements * dtype.Bits;
        return bits % 8 == 0 ? bits / 8 : null;
    }
}

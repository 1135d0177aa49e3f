using System.Globalization;

namespace StateTree.Checkpoint;

/// <summary>
/// A brain floating-point number (<c>bfloat16</c>, safetensors dtype <c>BF16</c>): the upper 16 bits of an
/// IEEE 754 <see cref="float"/> (1 sign bit, 8 exponent bits, 7 mantissa bits). Only storage and conversion:
/// convert to <see cref="float"/> to compute.
/// </summary>
/// <remarks>
/// Equality follows <see cref="Half"/>: <see cref="Equals(BFloat16)"/> is true for two NaNs and for
/// <c>+0</c> and <c>-0</c>, while the operators <c>==</c> and <c>!=</c> follow IEEE 754 (a NaN equals nothing).
/// </remarks>
public readonly struct BFloat16 : IEquatable<BFloat16>, IComparable<BFloat16>, IFormattable
{
    private readonly ushort bits;

    private BFloat16(ushort bits) => this.bits = bits;

    /// <summary>The raw 16 bits, as stored in a file.</summary>
    public ushort RawBits => bits;

    /// <summary>A value from its raw 16 bits.</summary>
    /// <param name="bits">The bits, as stored in a file.</param>
    /// <returns>The value.</returns>
    public static BFloat16 FromRawBits(ushort bits) => new(bits);

    /// <summary>Zero.</summary>
    public static BFloat16 Zero => default;

    /// <summary>A quiet NaN.</summary>
    public static BFloat16 NaN => new(0x7FC0);

    /// <summary>Positive infinity.</summary>
    public static BFloat16 PositiveInfinity => new(0x7F80);

    /// <summary>Negative infinity.</summary>
    public static BFloat16 NegativeInfinity => new(0xFF80);

    /// <summary>True for a NaN.</summary>
    /// <param name="value">The value.</param>
    /// <returns>Whether it is a NaN.</returns>
    public static bool IsNaN(BFloat16 value) => (value.bits & 0x7FFF) > 0x7F80;

    /// <summary>
    /// The nearest bfloat16 to a <see cref="float"/> (round to nearest, ties to even, as PyTorch and JAX do);
    /// a NaN stays a (quiet) NaN with its sign.
    /// </summary>
    /// <param name="value">The float.</param>
    /// <returns>The rounded value.</returns>
    public static BFloat16 FromSingle(float value)
    {
        var u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7FFF_FFFF) > 0x7F80_0000)
            return new((ushort)((u >> 16) | 0x0040));
        var rounding = 0x7FFFu + ((u >> 16) & 1);
        return new((ushort)((u + rounding) >> 16));
    }

    /// <summary>The exact <see cref="float"/> of this value.</summary>
    /// <returns>The float.</returns>
    public float ToSingle() => BitConverter.UInt32BitsToSingle((uint)bits << 16);

    /// <summary>The nearest bfloat16 to a <see cref="float"/>.</summary>
    /// <param name="value">The float.</param>
    public static explicit operator BFloat16(float value) => FromSingle(value);

    /// <summary>The exact <see cref="float"/> of a bfloat16.</summary>
    /// <param name="value">The bfloat16.</param>
    public static implicit operator float(BFloat16 value) => value.ToSingle();

    /// <summary>The exact <see cref="double"/> of a bfloat16.</summary>
    /// <param name="value">The bfloat16.</param>
    public static implicit operator double(BFloat16 value) => value.ToSingle();

    /// <summary>True when both are NaN or both have the same numeric value (<c>+0</c> equals <c>-0</c>).</summary>
    /// <param name="other">Another value.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(BFloat16 other) =>
        bits == other.bits || (IsNaN(this) && IsNaN(other)) || ((bits | other.bits) & 0x7FFF) == 0;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BFloat16 other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => IsNaN(this) ? 0x7FC0 : (bits & 0x7FFF) == 0 ? 0 : bits;

    /// <summary>Compares as floats; a NaN sorts before every number, as <see cref="float.CompareTo(float)"/>.</summary>
    /// <param name="other">Another value.</param>
    /// <returns>Negative, zero or positive.</returns>
    public int CompareTo(BFloat16 other) => ToSingle().CompareTo(other.ToSingle());

    /// <summary>IEEE 754 equality: a NaN equals nothing, <c>+0 == -0</c>.</summary>
    /// <param name="a">A value.</param>
    /// <param name="b">A value.</param>
    /// <returns>Whether they are equal numbers.</returns>
    public static bool operator ==(BFloat16 a, BFloat16 b) => a.ToSingle() == b.ToSingle();

    /// <summary>IEEE 754 inequality.</summary>
    /// <param name="a">A value.</param>
    /// <param name="b">A value.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(BFloat16 a, BFloat16 b) => !(a == b);

    /// <summary>The value as a float, in the current culture.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => ToSingle().ToString(CultureInfo.CurrentCulture);

    /// <summary>The value as a float, with a format and a culture.</summary>
    /// <param name="format">A numeric format string, or null.</param>
    /// <param name="formatProvider">A culture, or null.</param>
    /// <returns>The text.</returns>
    public string ToString(string? format, IFormatProvider? formatProvider) => ToSingle().ToString(format, formatProvider);
}

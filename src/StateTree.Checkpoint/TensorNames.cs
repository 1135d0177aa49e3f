using System.Globalization;
using System.Text;

namespace StateTree.Checkpoint;

/// <summary>
/// The tensor names of a safetensors checkpoint: a state's path written as a dotted name, the PyTorch and
/// Hugging Face convention (<c>('layers', 0, 'kernel')</c> is <c>layers.0.kernel</c>), with an escape
/// so that no two paths ever share a name.
/// </summary>
/// <remarks>
/// <para>
/// <b>Writing</b> (<see cref="Format"/>): the keys are joined with <c>.</c>. An int key is its digits
/// (<c>0</c>, <c>17</c>, <c>-3</c>). A string key is its text with every <c>\</c> written <c>\\</c> and every
/// <c>.</c> written <c>\.</c>; a string key that is a canonical integer (what <c>int.ToString()</c> gives, as
/// <c>"0"</c> or <c>"-3"</c>) also gets a <c>\</c> before its first character (<c>\0</c>), so that it cannot be
/// read as the int key.
/// </para>
/// <para>
/// <b>Reading</b> (<see cref="Parse"/>): the name is split at every <c>.</c> not preceded by an escaping
/// <c>\</c>. In a segment, <c>\\</c> and <c>\.</c> stand for <c>\</c> and <c>.</c>, and at the segment's start
/// <c>\</c> before a digit or <c>-</c> stands for that character. A segment without escapes that is a
/// canonical integer is an int key; every other segment is a string key (so <c>05</c> and <c>+4</c> stay
/// strings). Any other backslash is an ordinary character, so every name, even one no writer of ours produced,
/// reads as some path.
/// </para>
/// <para>
/// <b>Why names never collide</b>: <c>Parse(Format(p)) == p</c> for every path, so two different paths
/// cannot have the same name. Conversely <c>Format(Parse(n)) == n</c> for every name without a backslash, in
/// particular every PyTorch or Hugging Face name, which is why a foreign file saved back is identical byte
/// for byte. An empty string key is an empty segment: <c>('a', '', 'b')</c> is <c>a..b</c>.
/// </para>
/// </remarks>
public static class TensorNames
{
    /// <summary>The dotted name of a path (see the class remarks for the escapes). O(length).</summary>
    /// <param name="path">A non-empty path.</param>
    /// <returns>The name.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty.</exception>
    public static string Format(KeyPath path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Count == 0)
            throw new ArgumentException("The empty path has no tensor name.", nameof(path));
        var sb = new StringBuilder();
        var first = true;
        foreach (var key in path)
        {
            if (!first)
                sb.Append('.');
            first = false;
            if (key.IsIndex)
            {
                sb.Append(key.Index.ToString(CultureInfo.InvariantCulture));
                continue;
            }

            var name = key.Name;
            if (IsCanonicalInt(name))
            {
                sb.Append('\\').Append(name);
                continue;
            }

            foreach (var c in name)
            {
                if (c is '\\' or '.')
                    sb.Append('\\');
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    /// <summary>The path a dotted name stands for (see the class remarks). O(length).</summary>
    /// <param name="name">A tensor name.</param>
    /// <returns>The path; never empty (the name <c>""</c> is the path <c>('',)</c>).</returns>
    /// <exception cref="ArgumentNullException"><paramref name="name"/> is null.</exception>
    public static KeyPath Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var keys = new List<PathKey>();
        var sb = new StringBuilder();
        var escaped = false;
        var segmentStart = 0;
        var i = 0;
        while (true)
        {
            if (i == name.Length || name[i] == '.')
            {
                var text = sb.ToString();
                keys.Add(!escaped && IsCanonicalInt(text)
                    ? PathKey.FromIndex(int.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture))
                    : PathKey.FromName(text));
                if (i == name.Length)
                    break;
                sb.Clear();
                escaped = false;
                i++;
                segmentStart = i;
                continue;
            }

            var c = name[i];
            if (c == '\\' && i + 1 < name.Length)
            {
                var next = name[i + 1];
                if (next is '\\' or '.' || (i == segmentStart && (char.IsAsciiDigit(next) || next == '-')))
                {
                    sb.Append(next);
                    escaped = true;
                    i += 2;
                    continue;
                }
            }

            sb.Append(c);
            i++;
        }

        return KeyPath.OfSeq(keys);
    }

    /// <summary>True for the text <c>int.ToString()</c> gives for some int: <c>"0"</c>, <c>"17"</c>, <c>"-3"</c>; not <c>"05"</c>, <c>"+4"</c>, <c>"-0"</c>.</summary>
    internal static bool IsCanonicalInt(string text) =>
        text.Length is > 0 and <= 11
        && int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v)
        && v.ToString(CultureInfo.InvariantCulture) == text;
}

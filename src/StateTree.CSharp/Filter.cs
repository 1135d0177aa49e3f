using CoreFilter = StateTree.FSharp.Filter;
using FilterOps = StateTree.FSharp.FilterModule;

namespace StateTree;

/// <summary>
/// Decides, for a leaf at a path, whether it matches (Flax's filters). Filters have value equality
/// and a Flax-style <see cref="ToString"/>; <see cref="Where"/> filters compare by delegate identity.
/// Combine them with <c>|</c> (<see cref="Any"/>), <c>&amp;</c> (<see cref="All"/>) and <c>!</c>
/// (<see cref="Not"/>); a <see cref="Type"/> or a <see cref="string"/> converts to
/// <see cref="OfType(Type)"/> or <see cref="WithTag"/>.
/// </summary>
public sealed class Filter : IEquatable<Filter>
{
    private Filter(CoreFilter core) => Core = core;

    internal CoreFilter Core { get; }

    /// <summary>Matches every leaf (Flax's <c>...</c> or <c>True</c>).</summary>
    public static Filter Everything { get; } = new(CoreFilter.Everything);

    /// <summary>Matches no leaf (Flax's <c>None</c> or <c>False</c>).</summary>
    public static Filter Nothing { get; } = new(CoreFilter.Nothing);

    /// <summary>Matches leaves that are instances of <typeparamref name="T"/> or a subclass, raw leaves too.</summary>
    /// <typeparam name="T">The type to match.</typeparam>
    /// <returns>The filter (one shared instance per type).</returns>
    public static Filter OfType<T>() => TypeFilter<T>.Instance;

    /// <summary>Matches leaves that are instances of <paramref name="type"/> or a subclass, raw leaves too.</summary>
    /// <param name="type">The type to match.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="type"/> is null.</exception>
    public static Filter OfType(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        return new(FilterOps.OfTypeOf(type));
    }

    /// <summary>Matches <see cref="Variable"/> leaves whose <see cref="Variable.Tag"/> equals <paramref name="tag"/>.</summary>
    /// <param name="tag">The tag, compared ordinally.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="tag"/> is null.</exception>
    public static Filter WithTag(string tag)
    {
        ArgumentNullException.ThrowIfNull(tag);
        return new(FilterOps.WithTag(tag));
    }

    /// <summary>Matches leaves whose path holds <paramref name="key"/>.</summary>
    /// <param name="key">The key to look for.</param>
    /// <param name="exact">
    /// True: some key of the path equals <paramref name="key"/> (type-strict, so <c>0</c> is not <c>"0"</c>).
    /// False: some key's text contains the key's text (<c>"1"</c> matches the index keys 1 and 10).
    /// </param>
    /// <returns>The filter.</returns>
    public static Filter PathContains(PathKey key, bool exact = true) =>
        new(exact ? FilterOps.PathContains(key) : FilterOps.PathContainsText(key));

    /// <summary>Matches leaves whose whole path is one of <paramref name="paths"/>.</summary>
    /// <param name="paths">The paths to match.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="paths"/> or one of its elements is null.</exception>
    public static Filter PathIn(params KeyPath[] paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        return new(FilterOps.PathIn(paths));
    }

    /// <summary>Matches leaves whose path text (<c>layers/0/kernel</c>) the regular expression fully matches.</summary>
    /// <param name="regex">A .NET regular expression, anchored at both ends.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="regex"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="regex"/> is not a valid pattern.</exception>
    public static Filter PathMatches(string regex)
    {
        ArgumentNullException.ThrowIfNull(regex);
        try
        {
            return new(FilterOps.PathMatches(regex));
        }
        catch (ArgumentException e)
        {
            // The core anchors the pattern as ^(?:…)$, so the parser's offsets count from that text.
            throw new ArgumentException($"Invalid regular expression '{regex}': {e.Message}", nameof(regex), e);
        }
    }

    /// <summary>Matches leaves whose path begins with <paramref name="prefix"/>.</summary>
    /// <param name="prefix">The prefix; the empty path matches everything.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="prefix"/> is null.</exception>
    public static Filter PathStartsWith(KeyPath prefix)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        return new(FilterOps.PathStartsWith(prefix));
    }

    /// <summary>Matches when any of <paramref name="filters"/> does; <c>Any()</c> matches nothing.</summary>
    /// <param name="filters">The alternatives, tried in order.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="filters"/> or one of its elements is null.</exception>
    public static Filter Any(params Filter[] filters) =>
        new(FSharpInterop.Any(filters, nameof(filters)));

    /// <summary>Matches when all of <paramref name="filters"/> do; <c>All()</c> matches everything.</summary>
    /// <param name="filters">The conditions.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="filters"/> or one of its elements is null.</exception>
    public static Filter All(params Filter[] filters) =>
        new(FSharpInterop.All(filters, nameof(filters)));

    /// <summary>Matches when <paramref name="filter"/> does not.</summary>
    /// <param name="filter">The filter to negate.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="filter"/> is null.</exception>
    public static Filter Not(Filter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return new(FilterOps.Not(filter.Core));
    }

    /// <summary>Matches when <paramref name="predicate"/> holds for the leaf's path and value.</summary>
    /// <param name="predicate">The predicate; two <c>Where</c> filters are equal when they hold the same delegate.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="predicate"/> is null.</exception>
    public static Filter Where(Func<KeyPath, object?, bool> predicate)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        // The delegate goes to the core as is: no wrapper per call, and equality by its identity.
        return new(CoreFilter.NewWhere(predicate));
    }

    /// <summary>Wraps a filter of the F# core (<c>StateTree.FSharp.Filter</c>).</summary>
    /// <param name="filter">The core filter.</param>
    /// <returns>The C# filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="filter"/> is null.</exception>
    public static Filter FromFSharp(CoreFilter filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        return new(filter);
    }

    /// <summary>The filter of the F# core that this filter wraps.</summary>
    /// <returns>The core filter.</returns>
    public CoreFilter ToFSharp() => Core;

    /// <summary>True when the filter matches <paramref name="leaf"/> at <paramref name="path"/>.</summary>
    /// <param name="path">The leaf's path.</param>
    /// <param name="leaf">The leaf (a variable, a raw value or null).</param>
    /// <returns>Whether it matches.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    public bool Matches(KeyPath path, object? leaf)
    {
        ArgumentNullException.ThrowIfNull(path);
        return FilterOps.Matches(Core, path, leaf);
    }

    /// <summary><c>Any(a, b)</c>.</summary>
    /// <param name="a">The first alternative.</param>
    /// <param name="b">The second alternative.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException">A filter is null.</exception>
    public static Filter operator |(Filter a, Filter b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return Any(a, b);
    }

    /// <summary><c>All(a, b)</c>.</summary>
    /// <param name="a">The first condition.</param>
    /// <param name="b">The second condition.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException">A filter is null.</exception>
    public static Filter operator &(Filter a, Filter b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        return All(a, b);
    }

    /// <summary><c>Not(a)</c>.</summary>
    /// <param name="a">The filter to negate.</param>
    /// <returns>The filter.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="a"/> is null.</exception>
    public static Filter operator !(Filter a)
    {
        ArgumentNullException.ThrowIfNull(a);
        return Not(a);
    }

    /// <summary><see cref="OfType(Type)"/>, as Flax reads a class in a filter position.</summary>
    /// <param name="type">The type to match.</param>
    public static implicit operator Filter(Type type) => OfType(type);

    /// <summary><see cref="WithTag"/>, as Flax reads a string in a filter position.</summary>
    /// <param name="tag">The tag to match.</param>
    public static implicit operator Filter(string tag) => WithTag(tag);

    /// <summary>Value equality.</summary>
    /// <param name="a">A filter or null.</param>
    /// <param name="b">A filter or null.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(Filter? a, Filter? b) => a is null ? b is null : a.Equals(b);

    /// <summary>Value inequality.</summary>
    /// <param name="a">A filter or null.</param>
    /// <param name="b">A filter or null.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(Filter? a, Filter? b) => !(a == b);

    /// <summary>Value equality: same kind and same arguments (<see cref="Where"/>: same delegate).</summary>
    /// <param name="other">Another filter.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(Filter? other) => other is not null && (ReferenceEquals(this, other) || Core.Equals(other.Core));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Filter f && Equals(f);

    /// <inheritdoc/>
    public override int GetHashCode() => Core.GetHashCode();

    /// <summary>Flax's style: <c>OfType(Param)</c>, <c>WithTag('dropout')</c>, <c>Any(OfType(Param), WithTag('x'))</c>.</summary>
    /// <returns>The text.</returns>
    public override string ToString() => Core.ToString();

    private static class TypeFilter<T>
    {
        public static readonly Filter Instance = new(FilterOps.OfType<T>());
    }
}

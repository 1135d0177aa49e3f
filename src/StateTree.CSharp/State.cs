using System.Collections;
using System.Diagnostics.CodeAnalysis;
using CoreState = StateTree.FSharp.State;
using Ops = StateTree.FSharp.StateModule;

namespace StateTree;

/// <summary>
/// A persistent, immutable tree of model state (Flax NNX's <c>State</c>): each node maps keys, kept in
/// key order, to a sub-state or a leaf. Every operation returns a new state that shares unchanged
/// sub-trees with its input, and an operation that changes nothing returns its input instance.
/// Equality is structural and order-free; a state is hashable.
/// </summary>
/// <remarks>
/// As an <see cref="IReadOnlyDictionary{TKey, TValue}"/> a state shows its direct children: the values
/// are sub-<see cref="State"/>s or leaves. Leaves are read through <see cref="Flatten"/>,
/// <see cref="Map"/> and the LINQ methods <see cref="Where"/> and <see cref="Select"/>.
/// </remarks>
public sealed partial class State : IReadOnlyDictionary<PathKey, object?>, IEquatable<State>, FSharp.IStateWrapper
{
    private readonly CoreState core;

    // 0 means "not computed yet"; a computed 0 is stored as 1. One int field, so a racing read sees
    // either nothing or a whole hash.
    private int hash;

    private State(CoreState core) => this.core = core;

    /// <summary>The empty state (<c>State({})</c>), one shared instance.</summary>
    public static State Empty { get; } = new(Ops.Empty);

    /// <summary>
    /// A state from (key, value) entries. A value that is a <see cref="State"/> or a dictionary (keys
    /// <see cref="PathKey"/>, <see cref="int"/> or <see cref="string"/>) becomes a sub-state, so nested
    /// <c>Dictionary&lt;PathKey, object?&gt;</c> literals read as the tree they describe. A repeated key:
    /// the later wins. O(n log k).
    /// </summary>
    /// <param name="entries">The direct children.</param>
    /// <returns>The state.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="entries"/> is null.</exception>
    /// <exception cref="ArgumentException">A nested dictionary has a key that is neither an int nor a string.</exception>
    public static State Create(IEnumerable<KeyValuePair<PathKey, object?>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        return Wrap(Ops.OfSeq(entries.Select(e => Tuple.Create(e.Key, e.Value))));
    }

    /// <summary>
    /// Builds the nested state from (path, leaf) pairs (Flax's <c>from_flat_state</c>). A repeated path:
    /// the later pair wins. A <see cref="State"/> value is grafted as if each of its leaves (and empty
    /// sub-states) had been listed under that path. O(n) for pairs in path order, such as the output
    /// of <see cref="Flatten"/>; otherwise they are sorted first, O(n log n).
    /// </summary>
    /// <param name="pairs">The leaves with their paths, in any order.</param>
    /// <returns>The state.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pairs"/> or one of its paths is null.</exception>
    /// <exception cref="ArgumentException">
    /// The empty path holds a leaf, or a path is a leaf and also a prefix of another path (the message names both).
    /// </exception>
    public static State FromFlatState(IEnumerable<(KeyPath Path, object? Leaf)> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        return Wrap(FSharpInterop.OfFlat(pairs).OrThrow(nameof(pairs)));
    }

    /// <inheritdoc cref="FromFlatState(IEnumerable{ValueTuple{KeyPath, object}})"/>
    public static State FromFlatState(IEnumerable<KeyValuePair<KeyPath, object?>> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        return Wrap(FSharpInterop.OfFlat(pairs.Select(p => (p.Key, p.Value))).OrThrow(nameof(pairs)));
    }

    /// <summary>Wraps a state of the F# core (<c>StateTree.FSharp.State</c>), for code that uses both faces.</summary>
    /// <param name="state">The core state.</param>
    /// <returns>The C# state.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="state"/> is null.</exception>
    public static State FromFSharp(CoreState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        return Wrap(state);
    }

    /// <summary>The state of the F# core that this state wraps (no copy).</summary>
    /// <returns>The core state.</returns>
    public CoreState ToFSharp() => core;

    CoreState FSharp.IStateWrapper.Unwrap() => core;

    /// <summary>The number of direct children. O(1).</summary>
    public int Count => core.Count;

    /// <summary>The number of leaves in the whole tree. O(1).</summary>
    public int LeafCount => core.LeafCount;

    /// <summary>The keys of the direct children, in key order.</summary>
    public IEnumerable<PathKey> Keys => Ops.ToSeq(core).Select(e => e.Item1);

    /// <summary>The direct children (sub-states or leaves), in key order.</summary>
    public IEnumerable<object?> Values => Ops.ToSeq(core).Select(e => Out(e.Item2));

    /// <summary>The sub-state or leaf under a key. O(log k).</summary>
    /// <param name="key">A key of a direct child.</param>
    /// <exception cref="KeyNotFoundException">The state has no child under <paramref name="key"/>.</exception>
    public object? this[PathKey key] =>
        FSharpInterop.TryFind(core, key) is { } child
            ? Out(child)
            : throw new KeyNotFoundException($"The key {KeyPath.Of(key).ToTupleString()} is not in the state.");

    /// <summary>The sub-state or leaf at a path; the empty path gives the state itself. O(d log k).</summary>
    /// <param name="path">The path.</param>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="KeyNotFoundException">The state has nothing at <paramref name="path"/>.</exception>
    public object? this[KeyPath path]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(path);
            return FSharpInterop.TryFindPath(core, path) is { } child
                ? OutAt(child)
                : throw new KeyNotFoundException($"The path {path.ToTupleString()} is not in the state.");
        }
    }

    /// <summary>The sub-state or leaf under a key, when there is one. O(log k).</summary>
    /// <param name="key">A key.</param>
    /// <param name="value">The sub-state or leaf; null when absent (a leaf may be null too).</param>
    /// <returns>Whether the state has a child under <paramref name="key"/>.</returns>
    public bool TryGetValue(PathKey key, [MaybeNullWhen(false)] out object? value)
    {
        if (FSharpInterop.TryFind(core, key) is { } child)
        {
            value = Out(child);
            return true;
        }

        value = null;
        return false;
    }

    /// <summary>The sub-state or leaf at a path, when there is one; the empty path gives the state itself. O(d log k).</summary>
    /// <param name="path">A path.</param>
    /// <param name="value">The sub-state or leaf; null when absent (a leaf may be null too).</param>
    /// <returns>Whether the state has an entry at <paramref name="path"/>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    public bool TryGetValue(KeyPath path, [MaybeNullWhen(false)] out object? value)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (FSharpInterop.TryFindPath(core, path) is { } child)
        {
            value = OutAt(child);
            return true;
        }

        value = null;
        return false;
    }

    /// <summary>True when the state has a direct child under <paramref name="key"/>. O(log k).</summary>
    /// <param name="key">A key.</param>
    /// <returns>Whether the key is present.</returns>
    public bool ContainsKey(PathKey key) => Ops.ContainsKey(key, core);

    /// <summary>
    /// A state with <paramref name="value"/> at <paramref name="path"/>, creating missing parents; a
    /// <see cref="State"/> or dictionary value is grafted as a sub-tree. O(d log k); shares everything off the path.
    /// </summary>
    /// <param name="path">A non-empty path.</param>
    /// <param name="value">A leaf, or a sub-tree.</param>
    /// <returns>The new state.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="path"/> is empty, or a proper prefix of it is a leaf.</exception>
    public State SetItem(KeyPath path, object? value)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Same(Ops.SetItem(path, value, core));
    }

    /// <summary>A state with <paramref name="value"/> under the direct key <paramref name="key"/>. O(log k).</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">A leaf, or a sub-tree.</param>
    /// <returns>The new state.</returns>
    public State SetItem(PathKey key, object? value) => Same(Ops.SetItem(KeyPath.Of(key), value, core));

    /// <summary>
    /// A state without the entry at <paramref name="path"/>; parents left empty stay. Returns this very
    /// instance when the path is absent. O(d log k).
    /// </summary>
    /// <param name="path">The path of a leaf or sub-state.</param>
    /// <returns>The new state, or this one.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="path"/> is null.</exception>
    public State Remove(KeyPath path)
    {
        ArgumentNullException.ThrowIfNull(path);
        return Same(Ops.Remove(path, core));
    }

    /// <summary>A state without the direct child under <paramref name="key"/>; this very instance when absent. O(log k).</summary>
    /// <param name="key">The key.</param>
    /// <returns>The new state, or this one.</returns>
    public State Remove(PathKey key) => Same(Ops.Remove(KeyPath.Of(key), core));

    /// <summary>
    /// Every leaf with its path, in path order (Flax's <c>flat_state</c>); empty sub-states produce
    /// nothing. O(n); the paths share their prefixes.
    /// </summary>
    /// <returns>A new list of (path, leaf) pairs.</returns>
    public IReadOnlyList<(KeyPath Path, object? Leaf)> Flatten() => Ops.Flatten(core);

    /// <summary>The direct children in key order, sub-states as <see cref="State"/>s.</summary>
    /// <returns>The enumerator.</returns>
    public IEnumerator<KeyValuePair<PathKey, object?>> GetEnumerator()
    {
        foreach (var (key, child) in Ops.ToSeq(core))
            yield return new(key, Out(child));
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>Structural equality: same paths, same leaves, same empty sub-states. O(n).</summary>
    /// <param name="other">Another state.</param>
    /// <returns>Whether they are equal.</returns>
    public bool Equals(State? other) =>
        other is not null && (ReferenceEquals(this, other) || core.Equals(other.core));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is State s && Equals(s);

    /// <summary>A hash consistent with <see cref="Equals(State)"/>: O(n) the first time, then cached.</summary>
    /// <returns>The hash.</returns>
    public override int GetHashCode()
    {
        var h = hash;
        if (h == 0)
        {
            h = core.GetHashCode();
            if (h == 0)
                h = 1;
            hash = h;
        }

        return h;
    }

    /// <summary>Structural equality.</summary>
    /// <param name="a">A state or null.</param>
    /// <param name="b">A state or null.</param>
    /// <returns>Whether they are equal.</returns>
    public static bool operator ==(State? a, State? b) => a is null ? b is null : a.Equals(b);

    /// <summary>Structural inequality.</summary>
    /// <param name="a">A state or null.</param>
    /// <param name="b">A state or null.</param>
    /// <returns>Whether they differ.</returns>
    public static bool operator !=(State? a, State? b) => !(a == b);

    /// <summary>Flax's layout, in path order: <c>State({ 'key': Param( value=… ), … })</c>; <c>State({})</c> when empty. O(n).</summary>
    /// <returns>The text.</returns>
    public override string ToString() => core.ToString();

    /// <summary>The facade for a core state: the shared <see cref="Empty"/> for the empty one.</summary>
    internal static State Wrap(CoreState state) => ReferenceEquals(state, Empty.core) ? Empty : new State(state);

    /// <summary>This instance when the core handed back the state it was given (a no-op), else a wrapper.</summary>
    private State Same(CoreState state) => ReferenceEquals(state, core) ? this : Wrap(state);

    /// <summary>As <see cref="Out"/>, but the root itself (found at the empty path) is this very instance.</summary>
    private object? OutAt(FSharp.Child child) =>
        child is FSharp.Child.Sub sub ? Same(sub.Item) : ((FSharp.Child.Leaf)child).Item;

    private static object? Out(FSharp.Child child) =>
        child is FSharp.Child.Sub sub ? Wrap(sub.Item) : ((FSharp.Child.Leaf)child).Item;
}

using System.Collections;
using System.Text.Json;
using System.Text.Json.Nodes;
using LanguageExt;
using CoreState = StateTree.FSharp.State;

namespace StateTree;

// Pure dicts come in several shapes, and each gets its own overloads rather than one taking object:
// callers get a compile-time check, and Dictionary<string, object?> (which is both an IDictionary and an
// IReadOnlyDictionary<string, object?>) resolves without ambiguity. Optional parameters are avoided on
// these overloads (analyzer RS0026): each option combination is an overload of its own.
public sealed partial class State
{
    /// <summary>
    /// The state as a pure dict (Flax's <c>to_pure_dict</c>): nested <c>Dictionary&lt;object, object?&gt;</c>
    /// nodes with <see cref="int"/> or <see cref="string"/> keys inserted in path order, leaves mapped by
    /// <paramref name="extract"/>. Empty sub-states are dropped. O(n).
    /// </summary>
    /// <param name="extract">
    /// Applied to every leaf; null: a <see cref="Variable"/> gives its <see cref="Variable.Value"/>, any other leaf itself.
    /// </param>
    /// <returns>A new nested dictionary.</returns>
    public Dictionary<object, object?> ToPureDict(Func<object?, object?>? extract = null) =>
        FSharpInterop.ToPureDict(core, extract);

    // ---- Dictionary<object, object?> ----

    /// <summary>
    /// A state with the leaves that <paramref name="pureDict"/> mentions replaced (Flax's
    /// <c>replace_by_pure_dict</c>); the others are kept. Keys resolve level by level from the root: the
    /// child with the same key, else, for a canonical integer string (<c>"0"</c>, <c>"-3"</c>), the child
    /// with that int key. Returns this very instance when nothing changes. O(n + size of the pure dict).
    /// </summary>
    /// <param name="pureDict">The new values: a nested <see cref="Dictionary{TKey, TValue}"/> with object keys (what <see cref="ToPureDict"/> gives).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: <c>variable.WithValue(newValue)</c>
    /// for variables, <c>newValue</c> for raw leaves, with JSON values converted to the type of the value
    /// they replace. A custom function receives JSON values as given.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    /// <returns>The new state.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pureDict"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// Some paths are unknown (<c>key in pure_dict not available in state: ('layers', '5', 'kernel')</c>), two
    /// keys name the same child, a JSON value cannot be converted, or (<paramref name="strict"/>) leaves are
    /// missing. The message lists every problem, one per line.
    /// </exception>
    public State ReplaceByPureDict(Dictionary<object, object?> pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="Dictionary{TKey, TValue}"/> with object keys (what <see cref="ToPureDict"/> gives).</param>
    public State ReplaceByPureDict(Dictionary<object, object?> pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, null, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="Dictionary{TKey, TValue}"/> with object keys (what <see cref="ToPureDict"/> gives).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public State ReplaceByPureDict(Dictionary<object, object?> pureDict, Func<object?, object?, object?>? replace)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, replace, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="Dictionary{TKey, TValue}"/> with object keys (what <see cref="ToPureDict"/> gives).</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(Dictionary<object, object?> pureDict, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, null, strict);
    }

    /// <summary>
    /// <see cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/> that reports failures as values: every unknown, duplicate, unconvertible
    /// or (<paramref name="strict"/>) missing path is one <see cref="StateError"/>.
    /// </summary>
    /// <param name="pureDict">The new values: a nested <see cref="Dictionary{TKey, TValue}"/> with object keys (what <see cref="ToPureDict"/> gives).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    /// <returns>The new state, or every problem.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pureDict"/> is null.</exception>
    public Validation<StateError, State> TryReplaceByPureDict(Dictionary<object, object?> pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="Dictionary{TKey, TValue}"/> with object keys (what <see cref="ToPureDict"/> gives).</param>
    public Validation<StateError, State> TryReplaceByPureDict(Dictionary<object, object?> pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, null, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="Dictionary{TKey, TValue}"/> with object keys (what <see cref="ToPureDict"/> gives).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public Validation<StateError, State> TryReplaceByPureDict(Dictionary<object, object?> pureDict, Func<object?, object?, object?>? replace)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, replace, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="Dictionary{TKey, TValue}"/> with object keys (what <see cref="ToPureDict"/> gives).</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(Dictionary<object, object?> pureDict, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, null, strict);
    }

    /// <summary>
    /// A copy of <paramref name="pureDict"/> in which every key that is a canonical integer string
    /// (exactly what <c>int.ToString()</c> produces: <c>"0"</c>, <c>"17"</c>, <c>"-3"</c>; not <c>"05"</c>,
    /// <c>"+4"</c>, <c>" 2 "</c>) becomes an <see cref="int"/>, at every depth (Flax's <c>restore_int_paths</c>).
    /// The input is not changed; empty sub-dicts are dropped. O(size of the pure dict).
    /// </summary>
    /// <param name="pureDict">The pure dict: a nested <see cref="Dictionary{TKey, TValue}"/> with object keys (what <see cref="ToPureDict"/> gives).</param>
    /// <returns>A new nested <c>Dictionary&lt;object, object?&gt;</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pureDict"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// A string key and an int key collide after conversion (the message names the path), or a key is
    /// neither an int nor a string.
    /// </exception>
    public static Dictionary<object, object?> RestoreIntPaths(Dictionary<object, object?> pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Restore(pureDict, null);
    }

    /// <summary>
    /// A copy of <paramref name="pureDict"/> in which a string key becomes an <see cref="int"/> exactly where
    /// <paramref name="template"/> has that int key at that path, the string is its canonical text, and the
    /// template has no string key equal to it (restoring by structure, not by guessing). Empty sub-dicts are
    /// dropped. O(size of the pure dict).
    /// </summary>
    /// <param name="pureDict">The pure dict: a nested <see cref="Dictionary{TKey, TValue}"/> with object keys (what <see cref="ToPureDict"/> gives).</param>
    /// <param name="template">The state whose structure decides which keys are ints.</param>
    /// <returns>A new nested <c>Dictionary&lt;object, object?&gt;</c>.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="pureDict"/> or <paramref name="template"/> is null.</exception>
    /// <exception cref="ArgumentException">
    /// A string key and an int key collide after conversion, or a key is neither an int nor a string.
    /// </exception>
    public static Dictionary<object, object?> RestoreIntPaths(Dictionary<object, object?> pureDict, State template)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        ArgumentNullException.ThrowIfNull(template);
        return Restore(pureDict, template.core);
    }

    // ---- Dictionary<string, object?> ----

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested string-keyed dictionary (what <c>JsonSerializer.Deserialize&lt;Dictionary&lt;string, object?&gt;&gt;</c> gives).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(Dictionary<string, object?> pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested string-keyed dictionary (what <c>JsonSerializer.Deserialize&lt;Dictionary&lt;string, object?&gt;&gt;</c> gives).</param>
    public State ReplaceByPureDict(Dictionary<string, object?> pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, null, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested string-keyed dictionary (what <c>JsonSerializer.Deserialize&lt;Dictionary&lt;string, object?&gt;&gt;</c> gives).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public State ReplaceByPureDict(Dictionary<string, object?> pureDict, Func<object?, object?, object?>? replace)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, replace, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested string-keyed dictionary (what <c>JsonSerializer.Deserialize&lt;Dictionary&lt;string, object?&gt;&gt;</c> gives).</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(Dictionary<string, object?> pureDict, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, null, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested string-keyed dictionary (what <c>JsonSerializer.Deserialize&lt;Dictionary&lt;string, object?&gt;&gt;</c> gives).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(Dictionary<string, object?> pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested string-keyed dictionary (what <c>JsonSerializer.Deserialize&lt;Dictionary&lt;string, object?&gt;&gt;</c> gives).</param>
    public Validation<StateError, State> TryReplaceByPureDict(Dictionary<string, object?> pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, null, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested string-keyed dictionary (what <c>JsonSerializer.Deserialize&lt;Dictionary&lt;string, object?&gt;&gt;</c> gives).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public Validation<StateError, State> TryReplaceByPureDict(Dictionary<string, object?> pureDict, Func<object?, object?, object?>? replace)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, replace, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested string-keyed dictionary (what <c>JsonSerializer.Deserialize&lt;Dictionary&lt;string, object?&gt;&gt;</c> gives).</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(Dictionary<string, object?> pureDict, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, null, strict);
    }

    /// <inheritdoc cref="RestoreIntPaths(Dictionary{object, object})"/>
    /// <param name="pureDict">The pure dict: a nested string-keyed dictionary (what <c>JsonSerializer.Deserialize&lt;Dictionary&lt;string, object?&gt;&gt;</c> gives).</param>
    public static Dictionary<object, object?> RestoreIntPaths(Dictionary<string, object?> pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Restore(pureDict, null);
    }

    /// <inheritdoc cref="RestoreIntPaths(Dictionary{object, object}, State)"/>
    /// <param name="pureDict">The pure dict: a nested string-keyed dictionary (what <c>JsonSerializer.Deserialize&lt;Dictionary&lt;string, object?&gt;&gt;</c> gives).</param>
    /// <param name="template">The state whose structure decides which keys are ints.</param>
    public static Dictionary<object, object?> RestoreIntPaths(Dictionary<string, object?> pureDict, State template)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        ArgumentNullException.ThrowIfNull(template);
        return Restore(pureDict, template.core);
    }

    // ---- IDictionary ----

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: any nested <see cref="IDictionary"/>.</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(IDictionary pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: any nested <see cref="IDictionary"/>.</param>
    public State ReplaceByPureDict(IDictionary pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, null, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: any nested <see cref="IDictionary"/>.</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public State ReplaceByPureDict(IDictionary pureDict, Func<object?, object?, object?>? replace)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, replace, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: any nested <see cref="IDictionary"/>.</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(IDictionary pureDict, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, null, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: any nested <see cref="IDictionary"/>.</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(IDictionary pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: any nested <see cref="IDictionary"/>.</param>
    public Validation<StateError, State> TryReplaceByPureDict(IDictionary pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, null, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: any nested <see cref="IDictionary"/>.</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public Validation<StateError, State> TryReplaceByPureDict(IDictionary pureDict, Func<object?, object?, object?>? replace)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, replace, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: any nested <see cref="IDictionary"/>.</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(IDictionary pureDict, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, null, strict);
    }

    /// <inheritdoc cref="RestoreIntPaths(Dictionary{object, object})"/>
    /// <param name="pureDict">The pure dict: any nested <see cref="IDictionary"/>.</param>
    public static Dictionary<object, object?> RestoreIntPaths(IDictionary pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Restore(pureDict, null);
    }

    /// <inheritdoc cref="RestoreIntPaths(Dictionary{object, object}, State)"/>
    /// <param name="pureDict">The pure dict: any nested <see cref="IDictionary"/>.</param>
    /// <param name="template">The state whose structure decides which keys are ints.</param>
    public static Dictionary<object, object?> RestoreIntPaths(IDictionary pureDict, State template)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        ArgumentNullException.ThrowIfNull(template);
        return Restore(pureDict, template.core);
    }

    // ---- IReadOnlyDictionary<string, object?> ----

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="IReadOnlyDictionary{TKey, TValue}"/> with string keys.</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(IReadOnlyDictionary<string, object?> pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="IReadOnlyDictionary{TKey, TValue}"/> with string keys.</param>
    public State ReplaceByPureDict(IReadOnlyDictionary<string, object?> pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, null, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="IReadOnlyDictionary{TKey, TValue}"/> with string keys.</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public State ReplaceByPureDict(IReadOnlyDictionary<string, object?> pureDict, Func<object?, object?, object?>? replace)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, replace, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="IReadOnlyDictionary{TKey, TValue}"/> with string keys.</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(IReadOnlyDictionary<string, object?> pureDict, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, null, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="IReadOnlyDictionary{TKey, TValue}"/> with string keys.</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(IReadOnlyDictionary<string, object?> pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="IReadOnlyDictionary{TKey, TValue}"/> with string keys.</param>
    public Validation<StateError, State> TryReplaceByPureDict(IReadOnlyDictionary<string, object?> pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, null, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="IReadOnlyDictionary{TKey, TValue}"/> with string keys.</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public Validation<StateError, State> TryReplaceByPureDict(IReadOnlyDictionary<string, object?> pureDict, Func<object?, object?, object?>? replace)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, replace, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a nested <see cref="IReadOnlyDictionary{TKey, TValue}"/> with string keys.</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(IReadOnlyDictionary<string, object?> pureDict, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, null, strict);
    }

    /// <inheritdoc cref="RestoreIntPaths(Dictionary{object, object})"/>
    /// <param name="pureDict">The pure dict: a nested <see cref="IReadOnlyDictionary{TKey, TValue}"/> with string keys.</param>
    public static Dictionary<object, object?> RestoreIntPaths(IReadOnlyDictionary<string, object?> pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Restore(pureDict, null);
    }

    /// <inheritdoc cref="RestoreIntPaths(Dictionary{object, object}, State)"/>
    /// <param name="pureDict">The pure dict: a nested <see cref="IReadOnlyDictionary{TKey, TValue}"/> with string keys.</param>
    /// <param name="template">The state whose structure decides which keys are ints.</param>
    public static Dictionary<object, object?> RestoreIntPaths(IReadOnlyDictionary<string, object?> pureDict, State template)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        ArgumentNullException.ThrowIfNull(template);
        return Restore(pureDict, template.core);
    }

    // ---- JsonElement ----

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonElement"/> of kind <see cref="JsonValueKind.Object"/>).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(JsonElement pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        return Replace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonElement"/> of kind <see cref="JsonValueKind.Object"/>).</param>
    public State ReplaceByPureDict(JsonElement pureDict)
    {
        return Replace(pureDict, null, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonElement"/> of kind <see cref="JsonValueKind.Object"/>).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public State ReplaceByPureDict(JsonElement pureDict, Func<object?, object?, object?>? replace)
    {
        return Replace(pureDict, replace, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonElement"/> of kind <see cref="JsonValueKind.Object"/>).</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(JsonElement pureDict, bool strict)
    {
        return Replace(pureDict, null, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonElement"/> of kind <see cref="JsonValueKind.Object"/>).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(JsonElement pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        return TryReplace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonElement"/> of kind <see cref="JsonValueKind.Object"/>).</param>
    public Validation<StateError, State> TryReplaceByPureDict(JsonElement pureDict)
    {
        return TryReplace(pureDict, null, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonElement"/> of kind <see cref="JsonValueKind.Object"/>).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public Validation<StateError, State> TryReplaceByPureDict(JsonElement pureDict, Func<object?, object?, object?>? replace)
    {
        return TryReplace(pureDict, replace, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonElement"/> of kind <see cref="JsonValueKind.Object"/>).</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(JsonElement pureDict, bool strict)
    {
        return TryReplace(pureDict, null, strict);
    }

    /// <inheritdoc cref="RestoreIntPaths(Dictionary{object, object})"/>
    /// <param name="pureDict">The pure dict: a JSON object (<see cref="JsonElement"/> of kind <see cref="JsonValueKind.Object"/>).</param>
    public static Dictionary<object, object?> RestoreIntPaths(JsonElement pureDict)
    {
        return Restore(pureDict, null);
    }

    /// <inheritdoc cref="RestoreIntPaths(Dictionary{object, object}, State)"/>
    /// <param name="pureDict">The pure dict: a JSON object (<see cref="JsonElement"/> of kind <see cref="JsonValueKind.Object"/>).</param>
    /// <param name="template">The state whose structure decides which keys are ints.</param>
    public static Dictionary<object, object?> RestoreIntPaths(JsonElement pureDict, State template)
    {
        ArgumentNullException.ThrowIfNull(template);
        return Restore(pureDict, template.core);
    }

    // ---- JsonObject ----

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonObject"/>).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(JsonObject pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonObject"/>).</param>
    public State ReplaceByPureDict(JsonObject pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, null, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonObject"/>).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public State ReplaceByPureDict(JsonObject pureDict, Func<object?, object?, object?>? replace)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, replace, false);
    }

    /// <inheritdoc cref="ReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonObject"/>).</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public State ReplaceByPureDict(JsonObject pureDict, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Replace(pureDict, null, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonObject"/>).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(JsonObject pureDict, Func<object?, object?, object?>? replace, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, replace, strict);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonObject"/>).</param>
    public Validation<StateError, State> TryReplaceByPureDict(JsonObject pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, null, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonObject"/>).</param>
    /// <param name="replace">
    /// <c>replace(currentLeaf, newValue)</c> gives the new leaf; null: the default replacement.
    /// </param>
    public Validation<StateError, State> TryReplaceByPureDict(JsonObject pureDict, Func<object?, object?, object?>? replace)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, replace, false);
    }

    /// <inheritdoc cref="TryReplaceByPureDict(Dictionary{object, object}, Func{object, object, object}, bool)"/>
    /// <param name="pureDict">The new values: a JSON object (<see cref="JsonObject"/>).</param>
    /// <param name="strict">Also fail on leaves of the state that <paramref name="pureDict"/> does not mention.</param>
    public Validation<StateError, State> TryReplaceByPureDict(JsonObject pureDict, bool strict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return TryReplace(pureDict, null, strict);
    }

    /// <inheritdoc cref="RestoreIntPaths(Dictionary{object, object})"/>
    /// <param name="pureDict">The pure dict: a JSON object (<see cref="JsonObject"/>).</param>
    public static Dictionary<object, object?> RestoreIntPaths(JsonObject pureDict)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        return Restore(pureDict, null);
    }

    /// <inheritdoc cref="RestoreIntPaths(Dictionary{object, object}, State)"/>
    /// <param name="pureDict">The pure dict: a JSON object (<see cref="JsonObject"/>).</param>
    /// <param name="template">The state whose structure decides which keys are ints.</param>
    public static Dictionary<object, object?> RestoreIntPaths(JsonObject pureDict, State template)
    {
        ArgumentNullException.ThrowIfNull(pureDict);
        ArgumentNullException.ThrowIfNull(template);
        return Restore(pureDict, template.core);
    }

    private State Replace(object pureDict, Func<object?, object?, object?>? replace, bool strict) =>
        Same(FSharpInterop.ReplaceByPureDict(core, pureDict, replace, strict).OrThrow(nameof(pureDict)));

    private Validation<StateError, State> TryReplace(object pureDict, Func<object?, object?, object?>? replace, bool strict) =>
        FSharpInterop.ReplaceByPureDict(core, pureDict, replace, strict).ToValidation(Same);

    private static Dictionary<object, object?> Restore(object pureDict, CoreState? template) =>
        FSharpInterop.RestoreIntPaths(pureDict, template).OrThrow(nameof(pureDict));
}

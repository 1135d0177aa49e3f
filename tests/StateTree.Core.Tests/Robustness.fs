/// SPEC §4.9: every operation works on a state of depth 10,000 on a 1 MB thread stack and on a node
/// with 1,000,000 children. A stack overflow would kill the test process, so these run on their own
/// thread; the checks here walk iteratively, never recursively.
module StateTree.Core.Tests.Robustness

open System
open System.Collections.Generic
open System.Runtime.ExceptionServices
open System.Threading
open Xunit
open StateTree
open StateTree.FSharp

/// Runs f on a thread with a 1 MB stack and rethrows what it threw.
let private onSmallStack (f: unit -> unit) =
    let failure: ExceptionDispatchInfo option ref = ref None

    let thread =
        Thread(
            (fun () ->
                try
                    f ()
                with e ->
                    failure.Value <- Some(ExceptionDispatchInfo.Capture e)),
            1024 * 1024
        )

    thread.Start()
    thread.Join()

    match failure.Value with
    | Some e -> e.Throw()
    | None -> ()

let private depth = 10_000

/// The keys of the deep path: "layer", 1, "layer", 3, ...
let private deepKeys =
    [| for i in 0 .. depth - 1 ->
           if i % 2 = 0 then
               PathKey.FromName "layer"
           else
               PathKey.FromIndex i |]

let private deepPath = KeyPath.Of deepKeys
let private sibling = deepPath.Parent.Append(PathKey.FromName "stat")

let private buildDeep (kernel: obj) =
    State.empty
    |> State.set deepPath (box (Param kernel))
    |> State.set sibling (box (BatchStat 2.0))

/// The leaf at the end of the deep path, found by a loop.
let private bottom (s: State) =
    match State.tryFindPath deepPath s with
    | Some(Child.Leaf v) -> v
    | other -> failwith $"no leaf at the deep path: %A{other}"

/// The value under the deep path of a nested pure dict, found by a loop.
let private pureBottom (d: Dictionary<obj, obj | null>) (asText: bool) =
    let mutable node: obj | null = box d

    for k in deepKeys do
        let key: obj =
            if k.IsIndex && not asText then k.Index :> obj
            elif k.IsIndex then string k.Index :> obj
            else k.Name :> obj

        match node with
        | :? Dictionary<obj, obj | null> as n -> node <- n.[key]
        | :? Dictionary<string, obj | null> as n -> node <- n.[string key]
        | other -> failwith $"expected a dictionary, got {other}"

    node

/// The deep pure dict with every key as text (what JSON gives), built bottom-up by a loop.
let private deepStringDict () =
    let mutable node: obj | null = box 5.0

    for i in depth - 1 .. -1 .. 0 do
        let d = Dictionary<string, obj | null>()
        d.[deepKeys.[i].ToString()] <- node
        node <- box d

    nonNull node

[<Fact>]
let ``a state of depth 10,000 works with every operation on a 1 MB stack`` () =
    onSmallStack (fun () ->
        let deep = buildDeep 1.0
        Assert.Equal(2, State.leafCount deep)
        Assert.Equal(1, State.count deep)
        Assert.Equal(box (Param 1.0), bottom deep)

        let flat = State.flatten deep
        Assert.Equal(2, flat.Length)
        let struct (p0, _) = flat.[0]
        Assert.True(deepPath.Equals p0)

        match State.ofFlat flat with
        | Ok rebuilt -> Assert.Equal(deep, rebuilt)
        | Error e -> failwith $"%A{e}"

        // Equality and hashing of a separately built twin (printing has its own test below).
        let twin = buildDeep 1.0
        Assert.True(deep.Equals twin)
        Assert.Equal(deep.GetHashCode(), twin.GetHashCode())
        Assert.False(deep.Equals(buildDeep 9.0))

        // Filter and split, by type (leaf by leaf) and by path (whole sub-trees).
        let onlyParams = State.filter Filter.ofType<Param> deep
        Assert.Equal(1, State.leafCount onlyParams)
        Assert.Same(deep, State.filter Everything deep)

        match State.split [ Filter.ofType<Param>; Everything ] deep with
        | Ok [ p; rest ] ->
            Assert.Equal(1, State.leafCount p)
            Assert.Equal(1, State.leafCount rest)
            Assert.Equal(deep, State.merge [ p; rest ])
        | other -> failwith $"%A{other}"

        let half = KeyPath.OfSeq(Array.take (depth / 2) deepKeys)

        match State.split [ Filter.pathStartsWith half; Everything ] deep with
        | Ok [ all; none ] ->
            Assert.Same(deep, all)
            Assert.Equal(State.empty, none)
        | other -> failwith $"%A{other}"

        match
            State.filterMany [ Filter.pathContains (PathKey.FromName "stat"); Filter.pathMatches ".*/9999" ] deep
        with
        | Ok [ stat; kernel ] ->
            Assert.Equal(1, State.leafCount stat)
            Assert.Equal(1, State.leafCount kernel)
        | other -> failwith $"%A{other}"

        // Merge, merge conflicts, diff.
        let other =
            State.empty
            |> State.set (sibling.Parent.Append(PathKey.FromName "extra")) (box 3)

        let merged = State.merge [ deep; other ]
        Assert.Equal(3, State.leafCount merged)

        match State.mergeWith MergeConflict.Error [ deep; twin ] with
        | Error errors -> Assert.Equal(2, errors.Length)
        | Ok s -> failwith $"expected conflicts, got {s.LeafCount} leaves"

        Assert.Equal(State.empty, State.diff twin deep)
        Assert.Equal(deep, State.diff other merged)

        // Map, select, where, zip.
        let doubled =
            State.select
                (fun v ->
                    match v with
                    | :? Variable as x -> box (x.WithValue(box 7.0))
                    | x -> x)
                deep

        Assert.Equal(box (Param 7.0), bottom doubled)
        Assert.Equal(2, State.leafCount (State.map (fun _ v -> v) deep))
        Assert.Equal(1, State.leafCount (State.where (fun v -> v :? Param) deep))

        match State.zip (fun a _ -> a) deep doubled with
        | Ok z -> Assert.Equal(deep, z)
        | Error e -> failwith $"%A{e}"

        // Pure dicts both ways.
        let d = State.toPureDict deep
        Assert.Equal(box 1.0, pureBottom d false)

        match State.replaceByPureDict d deep with
        | Ok r -> Assert.Equal(deep, r)
        | Error e -> failwith $"%A{e}"

        let text = deepStringDict ()

        match State.replaceByPureDict text deep with
        | Ok r -> Assert.Equal(box (Param 5.0), bottom r)
        | Error e -> failwith $"%A{e |> List.truncate 3}"

        match State.restoreIntPaths text with
        | Ok restored -> Assert.Equal(box 5.0, pureBottom restored false)
        | Error e -> failwith $"%A{e |> List.truncate 3}"

        match State.restoreIntPathsLike deep text with
        | Ok restored -> Assert.Equal(box 5.0, pureBottom restored false)
        | Error e -> failwith $"%A{e |> List.truncate 3}"

        // Persistent updates at the bottom.
        let removed = State.remove deepPath deep
        Assert.Equal(1, State.leafCount removed)
        Assert.Equal(2, State.leafCount deep)
        Assert.Same(deep, State.remove (deepPath.Append(PathKey.FromName "absent")) deep))

/// In its own class, so that xUnit runs it beside the rest: the Flax layout indents each level, so
/// this text has about 200 million characters and takes seconds to build.
module Printing =
    [<Fact>]
    let ``a state of depth 10,000 prints on a 1 MB stack`` () =
        onSmallStack (fun () ->
            let text = (buildDeep 1.0).ToString()
            Assert.StartsWith("State({\n  'layer': {\n    1: {", text)
            Assert.Contains("Param(\n", text)
            Assert.EndsWith("\n})", text))

[<Fact>]
let ``a node with 1,000,000 children works with build, set, remove, split and tryFind`` () =
    onSmallStack (fun () ->
        let n = 1_000_000
        let wide = State.ofSeq (Seq.init n (fun i -> PathKey.FromIndex i, box i))
        Assert.Equal(n, State.count wide)
        Assert.Equal(n, State.leafCount wide)

        let key (i: int) = KeyPath.Of [| PathKey.FromIndex i |]

        let added = State.set (key n) (box "new") wide
        Assert.Equal(n + 1, State.count added)
        Assert.Equal(n, State.count wide)

        let replaced = State.set (key 500_000) (box "x") wide
        Assert.Equal(Some(Child.Leaf(box "x")), State.tryFind (PathKey.FromIndex 500_000) replaced)
        Assert.Equal(Some(Child.Leaf(box 500_000)), State.tryFind (PathKey.FromIndex 500_000) wide)

        let removed = State.remove (key 123_456) wide
        Assert.Equal(n - 1, State.count removed)
        Assert.Equal(None, State.tryFind (PathKey.FromIndex 123_456) removed)
        Assert.Equal(Some(Child.Leaf(box 999_999)), State.tryFind (PathKey.FromIndex 999_999) removed)
        Assert.Same(wide, State.remove (key n) wide)

        match State.split [ Filter.pathIn [ key 7; key 999_998 ]; Everything ] wide with
        | Ok [ picked; rest ] ->
            Assert.Equal(2, State.count picked)
            Assert.Equal(n - 2, State.count rest)
            Assert.Equal(None, State.tryFind (PathKey.FromIndex 7) rest)
        | other -> failwith $"%A{other |> Result.map (List.map State.count)}"

        match State.split [ Everything ] wide with
        | Ok [ all ] -> Assert.Same(wide, all)
        | other -> failwith $"%A{other |> Result.map (List.map State.count)}")

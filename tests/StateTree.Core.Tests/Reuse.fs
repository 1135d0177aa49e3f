/// Filter, Split, Merge, ReplaceByPureDict and RestoreIntPaths keep one spare set of walk buffers per
/// thread between calls, so that small states do not pay for setting them up. These check that no
/// call can see another's data through it: a call made from inside another (a predicate that
/// filters), a call after one that failed half-way, and no leaf kept alive once a call is done.
[<FsCheck.Xunit.Properties(Arbitrary = [| typeof<StateTree.Core.Tests.Arbs> |])>]
module StateTree.Core.Tests.Reuse

open System
open System.Collections.Generic
open System.Runtime.CompilerServices
open Xunit
open FsCheck.Xunit
open StateTree
open StateTree.FSharp
open StateTree.Core.Tests.ReferenceModel

/// Every walk that rents buffers, on s, each checked against the reference model or a law.
let private walkAll (label: string) (s: State) =
    let m = ofState s
    let f = Filter.ofType<Param>
    expectModel $"{label}: filter" (filter f m) (State.filter f s)

    match State.split [ f; Filter.Everything ] s with
    | Ok [ p; rest ] ->
        expectModel $"{label}: split, first group" (filter f m) p
        expectModel $"{label}: split, rest" (filter (Filter.not f) m) rest
        expectEqual $"{label}: merge of the split" s (State.merge [ p; rest ])
    | other -> failwith $"{label}: split gave %A{other}"

    expectEqual $"{label}: replaceByPureDict (toPureDict s) s" (Ok s) (State.replaceByPureDict (State.toPureDict s) s)

    let pureDict = State.toPureDict s

    match State.restoreIntPathsLike s pureDict with
    | Ok d ->
        expectEqual
            $"{label}: restoreIntPathsLike s (toPureDict s), top-level keys"
            (List.ofSeq pureDict.Keys)
            (List.ofSeq d.Keys)
    | Error e -> failwith $"{label}: restoreIntPathsLike failed: %A{e}"

[<Property>]
let ``walks made from inside a filter's predicate do not disturb it`` (c: FilterCase) (FlatState inner) =
    let outer = List.head c.Filters

    let nested =
        Filter.where (fun path leaf ->
            walkAll "inner" inner
            Filter.matches outer path leaf)

    expectModel "the outer filter" (filter outer (ofState c.State)) (State.filter nested c.State)

exception private Stop

[<Property>]
let ``a walk stopped by an exception leaves the next one right`` (FlatState s) (stopAt: uint8) =
    let mutable seen = 0

    let failing =
        Filter.where (fun _ _ ->
            seen <- seen + 1

            if seen > int stopAt % 8 then
                raise Stop

            true)

    try
        State.filter failing s |> ignore
    with Stop ->
        ()

    let throwing =
        { Replace = Some(fun _ _ -> raise Stop)
          Strict = false }

    try
        State.replaceByPureDictWith throwing (State.toPureDict s) s |> ignore
    with Stop ->
        ()

    walkAll "after the exceptions" s

/// Runs every renting walk on a state whose leaves exist nowhere else; weak references to them.
/// Its 100 layers are more than a node keeps flat, so the walks' large-node buffers are used too.
[<MethodImpl(MethodImplOptions.NoInlining)>]
let private walkThenForget () =
    let leaves = List.init 100 (fun _ -> Param(Array.zeroCreate<float> 1000))

    let state =
        leaves
        |> List.mapi (fun i p ->
            (KeyPath.Of(PathKey.FromName "layers", PathKey.FromIndex i, PathKey.FromName "w"), box p))
        |> Seq.map (fun (p, v) -> struct (p, v))
        |> State.ofFlat
        |> Result.defaultWith (fun e -> failwith $"%A{e}")

    walkAll "to forget" state
    leaves |> List.map (fun p -> WeakReference(p))

[<Fact>]
let ``the spare buffers keep no leaf alive`` () =
    let weak = walkThenForget ()
    GC.Collect()
    GC.WaitForPendingFinalizers()
    GC.Collect()
    let alive = weak |> List.filter (fun w -> w.IsAlive) |> List.length
    expectEqual "leaves still reachable after the walks" 0 alive

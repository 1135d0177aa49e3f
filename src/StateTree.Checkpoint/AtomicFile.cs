namespace StateTree.Checkpoint;

/// <summary>
/// Crash-safe writes: the bytes go to a temporary file beside the target, are flushed to disk, and only then
/// is the file renamed over the target, so an interrupted save leaves the old file or the new one, never half
/// of one.
/// </summary>
internal static class AtomicFile
{
    /// <summary>Writes fullPath through a temporary file in its folder.</summary>
    public static void Write(string fullPath, Action<Stream> write)
    {
        var folder = Path.GetDirectoryName(fullPath) ?? ".";
        if (!Directory.Exists(folder))
            throw new DirectoryNotFoundException($"Cannot write '{fullPath}': the folder '{folder}' does not exist.");
        var temporary = WriteTemp(folder, Path.GetFileName(fullPath), write);
        try
        {
            File.Move(temporary, fullPath, overwrite: true);
        }
        catch
        {
            DeleteIfExists(temporary);
            throw;
        }
    }

    /// <summary>
    /// Writes a flushed temporary file in folder, named after fileName, and returns its path; the caller renames
    /// it (several files of a sharded checkpoint are written first and renamed together).
    /// </summary>
    public static string WriteTemp(string folder, string fileName, Action<Stream> write)
    {
        var temporary = Path.Combine(folder, $".{fileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            using var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
            write(stream);
            stream.Flush(flushToDisk: true);
        }
        catch
        {
            DeleteIfExists(temporary);
            throw;
        }

        return temporary;
    }

    /// <summary>Deletes a file if it can; a leftover is not worth hiding the error that is being reported.</summary>
    public static void DeleteIfExists(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a stale file that cannot be removed is left for the user.
        }
    }
}

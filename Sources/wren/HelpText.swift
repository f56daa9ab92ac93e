/// A command's discussion as paragraphs ArgumentParser can wrap to the terminal: the lines of a
/// paragraph, hard-wrapped at 80 columns in the source, are joined into one line, while indented
/// lines (examples, lists) and blank lines stay as they are. Without this a narrower terminal
/// wraps each source line again, leaving ragged half-lines.
func reflowed(_ text: String) -> String {
    var lines: [String] = []
    var joinable = false
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        let indented = line.first == " "
        if joinable && !line.isEmpty && !indented {
            lines[lines.count - 1] += " " + line
        } else {
            lines.append(String(line))
        }
        joinable = !line.isEmpty && !indented
    }
    return lines.joined(separator: "\n")
}

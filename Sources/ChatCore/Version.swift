/// chatd's version: shown by `chatd --version` and `chatctl --version`, in the greeting, and
/// in the .deb's name (the Makefile reads it from this file).
public enum ChatdVersion {
    public static let current = "0.1.0"
}

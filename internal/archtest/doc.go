// Package archtest holds the tests that keep Granary's architecture true: the
// pure core imports nothing that does I/O, and every package has a doc comment.
package archtest

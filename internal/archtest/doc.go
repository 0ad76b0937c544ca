// Package archtest holds the tests that keep Granary's architecture true: the
// pure core imports nothing that does I/O, every package has a doc comment,
// every skip on a missing dependency goes through the CI guard, and the test
// environment (scripts/testenv.sh) fails on a broken service.
package archtest

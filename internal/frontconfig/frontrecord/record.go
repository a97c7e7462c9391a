// Package frontrecord is the front end's side of its record of config.toml
// (issue 16): the record's format and the reader that decides whether the
// front may use it. It links none of os, fmt, crypto, encoding/hex,
// net/url or path/filepath (deps_test.go keeps it so): Go initialises every
// package a binary links at start-up, and the front is kept near an empty
// Go program's. The full CLI's writer is internal/frontconfig.
//
// A record is one header line of our own format, versioned, followed by the
// exact content of config.toml, and nothing else:
//
//	hfbroker-front-config v2 DEV INO SIZE MTIME_NS CTIME_NS ENDPOINT LEN\n
//	<LEN bytes: config.toml's content>
//
// DEV, INO, SIZE, MTIME_NS and CTIME_NS are config.toml's identity as stat
// saw it (Identity); ENDPOINT is the endpoint the full CLI parsed from that
// content, "-" when it sets none; LEN is the content's length, which is
// SIZE (the record holds the whole file) and at most MaxContent. Every value
// has a single spelling (decimal, no sign on what cannot be negative, no
// leading zero), and Decode refuses anything Encode would not write.
//
// The front uses the record only while config.toml has that identity and
// exactly that content. The identity alone is not enough: file timestamps
// tick with the kernel's coarse clock (a few ms), so a same-size edit just
// after the full CLI read the file can keep every stat field; comparing the
// bytes themselves is exact, and needs no hash (a config.toml is a few
// hundred bytes, and one larger than MaxContent is never recorded: the full
// CLI reads it). The identity keeps the record bound to one file (a
// config.toml replaced by a copy, or a symlink pointed elsewhere, is
// another file).
//
// Version v1 (a SHA-256 of the content instead of the content) is refused
// like any other version: the full CLI rewrites the record as v2 the next
// time it loads config.toml.
package frontrecord

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// FileName is the record's name in hfbroker's state directory
// ($XDG_STATE_HOME/hfbroker): per user (the directory is 0700), kept across
// reboots (so the first call after one is served by the front), and present
// where XDG_RUNTIME_DIR is not (ssh without logind, containers).
const FileName = "front-config"

// MaxContent bounds the config.toml a record holds: a larger file gets no
// record, and the front hands it to the full CLI.
const MaxContent = 16 << 10

// magic and version start the header; a record of another version is
// refused, as a future format may mean something else.
const (
	magic   = "hfbroker-front-config"
	version = "v2"
)

// maxHeader bounds the header line, newline included: it is about 100 bytes
// and the endpoint.
const maxHeader = 4096

// maxRecord bounds what Decode and the reader accept.
const maxRecord = maxHeader + MaxContent

// Identity names one version of a file as stat sees it. Ctime cannot be set
// by a user (touch sets mtime only), so an edit that restores size and mtime
// still changes it.
type Identity struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64 // ns since the epoch
}

// Record is what the full CLI read from config.toml. Records compare with
// ==.
type Record struct {
	File Identity
	// Endpoint is the endpoint the full CLI parsed from Content, empty when
	// it sets none. Decode checks only that it is printable ASCII without
	// spaces: whoever uses it must check it is a Hub endpoint
	// (hubapi.NormalizeEndpoint(ep) == ep), as this package links no URL
	// parser.
	Endpoint string
	// Content is the bytes the full CLI parsed, all of config.toml.
	Content string
}

// Matches reports whether the record was made from content read from the
// file id: the same identity and exactly the same bytes.
func (r Record) Matches(id Identity, content []byte) bool {
	return r.File == id && string(content) == r.Content
}

// Encode writes the record: the header line, then the content.
func (r Record) Encode() []byte {
	ep := r.Endpoint
	if ep == "" {
		ep = "-"
	}
	b := make([]byte, 0, 128+len(ep)+len(r.Content))
	b = append(b, magic+" "+version...)
	for _, n := range []uint64{r.File.Dev, r.File.Ino} {
		b = append(b, ' ')
		b = strconv.AppendUint(b, n, 10)
	}
	for _, n := range []int64{r.File.Size, r.File.Mtime, r.File.Ctime} {
		b = append(b, ' ')
		b = strconv.AppendInt(b, n, 10)
	}
	b = append(b, ' ')
	b = append(b, ep...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(r.Content)), 10)
	b = append(b, '\n')
	return append(b, r.Content...)
}

// ErrBadRecord is any record Decode or the reader refuses.
var ErrBadRecord = errors.New("not a front-config record")

// Decode parses one record. It accepts exactly what Encode writes for a
// record whose content is the whole file (LEN = SIZE) and at most
// MaxContent: the version it knows, canonical numbers, an endpoint of
// printable ASCII, the content and not a byte more.
func Decode(b []byte) (Record, error) {
	if len(b) > maxRecord {
		return Record{}, ErrBadRecord
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 || nl >= maxHeader {
		return Record{}, ErrBadRecord
	}
	f := strings.Split(string(b[:nl]), " ")
	if len(f) != 9 || f[0] != magic || f[1] != version {
		return Record{}, ErrBadRecord
	}
	var err error
	u := func(s string) uint64 {
		n, e := strconv.ParseUint(s, 10, 64)
		err = errors.Join(err, e)
		return n
	}
	i := func(s string) int64 {
		n, e := strconv.ParseInt(s, 10, 64)
		err = errors.Join(err, e)
		return n
	}
	r := Record{File: Identity{Dev: u(f[2]), Ino: u(f[3]), Size: i(f[4]), Mtime: i(f[5]), Ctime: i(f[6])}}
	n := i(f[8])
	content := b[nl+1:]
	switch {
	case err != nil,
		n < 0 || n > MaxContent || n != r.File.Size,
		int64(len(content)) != n,
		!printable(f[7]):
		return Record{}, ErrBadRecord
	}
	if f[7] != "-" {
		r.Endpoint = f[7]
	}
	r.Content = string(content)
	// One spelling per value: "+1", "01", "-0" are someone else's writing.
	if !bytes.Equal(r.Encode(), b) {
		return Record{}, ErrBadRecord
	}
	return r, nil
}

// printable reports whether s is a non-empty run of printable ASCII other
// than space: no control character, no byte a terminal or a log could take
// for something else.
func printable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

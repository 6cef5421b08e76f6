// Package keys holds the encryption keys of attrcache: Tink keysets that
// are loaded, generated, rotated and written back, and Envelope, the cipher
// attrcache seals attribute values with.
//
// # Keysets
//
// The key-encryption key (KEK) is an ordinary Tink keyset in Tink's JSON
// form, so keysets written by Tink's own tools load as they are and the
// ones written here load in Tink. It is read from a file (ReadFile), an
// environment variable holding the JSON or base64 of it (ReadEnv) or bytes
// (Parse); any of them may be a keyset encrypted under a master AEAD, the
// way a cloud KMS key protects it. The master is any tink.AEAD, so a KMS
// client plugs in without this package depending on a cloud SDK; on disk
// it is an AEAD keyset (GenerateAEAD, NewAEAD). Generate, Rotate, Add,
// Promote, Disable, Enable, Destroy and List manage the keys; the
// attrcache-keys command does the same from a shell.
//
// # Key files
//
// WriteFile replaces a file atomically (a temporary file in the same
// directory, then rename), so a reader sees the old keyset or the new
// one. Who may then read the new one follows three rules:
//
//   - A new keyset is 0600 and belongs to the writer, whatever it
//     replaces: a new file, and a file written AsNewFile, as
//     attrcache-keys generate -force does. The file it replaces held
//     other keys, and its mode was chosen for them, or by nobody (a
//     umask's 0644); a fresh key inherits no one's access.
//   - A rewritten keyset (rotate, add, promote, disable, enable,
//     destroy) keeps its owner and group and a mode that shares it with
//     the group and nobody else (0640, 0660): letting a service's group
//     read the keyset is a deliberate choice that a rotation must not
//     undo. A mode that lets every user in (0644) is a mistake to fix,
//     not to keep: the rewrite is 0600.
//   - A symbolic link is refused (ErrSymlink) unless FollowSymlink is
//     given, as attrcache-keys -follow does: writing through a link puts
//     the keyset wherever the link points, into a file whose mode was
//     set for something else. The check is the open itself, with
//     O_NOFOLLOW, so no link slipped in after a check is followed; when
//     asked to, the file the link resolves to is replaced under the
//     rules above and the link stays.
//
// Read-only files are refused, even for root. A key file that every user
// may read is still read, with a warning in the log. Neither errors nor
// logs ever carry key material or plaintext.
//
// # The envelope: one data key per session
//
// A textbook envelope (aead.NewKMSEnvelopeAEAD2) makes a fresh data key
// (DEK) per value and stores it wrapped by the KEK in the ciphertext: about
// 4.3 µs to seal, 2.3 µs to open and 132 bytes per value. attrcache wants
// sealing to cost a couple of microseconds beside a 30 to 60 µs Redis round
// trip, at most 48 bytes per value, and its Cipher is AEAD-shaped with one
// Redis round trip per call, so wrapped DEKs can be neither fetched from
// Redis nor carried in every value. Envelope therefore derives the DEK
// instead of storing it:
//
//   - The KEK keyset holds Tink PRF-based key-derivation keys
//     (type.googleapis.com/google.crypto.tink.PrfBasedDeriverKey): an
//     HKDF-SHA256 PRF that derives AES-256-GCM keys. KeyTemplate is its
//     template; Generate makes one.
//   - The associated data attrcache passes is
//     namespace NUL sessionDigest NUL attributeName. Its part before the
//     last NUL byte, the scope, is the same for every attribute of one
//     session; associated data without a NUL is its own scope.
//   - The DEK of a session under KEK key k is the key Tink's
//     keyderivation.KeysetDeriver gives for k with salt = scope: the
//     AES-256-GCM key made of the first 32 bytes of
//     HKDF-Expand(HKDF-Extract(prfSalt, prfKey), info = scope). It keeps
//     k's key id and output prefix, so rotation works as in any Tink
//     keyset: the primary KEK key seals, a ciphertext names its key in
//     Tink's 5-byte prefix, older enabled keys still open, disabled ones
//     do not.
//   - Ciphertext = Tink AES-GCM with that DEK over the full associated
//     data: prefix (5) || nonce (12) || ciphertext || tag (16), Overhead =
//     33 bytes per value. Because the whole associated data is
//     authenticated, a value moved to another attribute of the same
//     session fails too; a value moved to another session fails twice
//     over (other DEK, other associated data).
//   - Derived AEADs are kept in a bounded, sharded LRU cache (WithCacheSize,
//     default 10,000 scopes) that is safe for concurrent use. A hit costs
//     a map lookup beside AES-GCM itself; a miss is one HKDF-Expand and an
//     AES key schedule. Decrypt caches a scope only after a value opened,
//     so garbage input cannot flush the cache.
//
// Why per session and not one process-wide DEK: AES-GCM with random 96-bit
// nonces must not seal more than 2^32 messages under one key, which a
// single DEK reaches in about 12 hours at 100,000 writes per second. A
// session's DEK seals only that session's values. Deriving keeps the DEK
// out of Redis, and it also means every process derives the same DEK with
// no coordination.
//
// Why the derivation is computed here rather than by
// keyderivation.KeysetDeriver.DeriveKeyset on every miss: DeriveKeyset
// derives every enabled key of the keyset, not just the one needed, and
// builds a keyset handle each time; with aead.New on top, a miss costs about
// 11 µs for a one-key keyset and a multiple of that after rotations. Here a
// miss derives one key: HKDF-Expand with a reused keyed HMAC (the extract
// step is done once per KEK key), then Tink's AES-GCM primitive for the
// key, about 3 to 4 µs in all, most of it AES and GCM setup
// (BenchmarkEnvelopeEncrypt/miss against BenchmarkBaseline). The result is
// the same key: NewEnvelope derives a probe key both ways for every enabled
// key and refuses to start if they differ, and the tests check that
// ciphertexts cross between the two both ways. The key material leaves
// Tink only through Tink's own insecuresecretdataaccess token, and the
// AES-GCM primitive is Tink's (aead/aesgcm).
//
// # Ordinary AEAD keysets
//
// An AEAD keyset (for example tinkey's AES256_GCM) cannot derive keys, so
// NewEnvelope refuses it with ErrUnsupportedKeyset and says which key type
// it needs. Such a keyset has a place nonetheless: as the master AEAD that
// encrypts the derivation keyset on disk (ReadFile with a master, or
// attrcache-keys -master-keyset). That is the envelope one level up: the
// AEAD key wraps the key-derivation keyset, which derives the data keys.
//
// # Rotation
//
// Rotate adds a key and makes it primary at once, right for one process.
// With many processes, Add the key first and roll the keyset out, then
// Promote it, so no process meets a value sealed under a key it does not
// know yet. Disable a key only after the values it sealed have expired or
// been rewritten; their Decrypt then fails with ErrKeyDisabled. A key that
// leaked is destroyed instead (Destroy): its material leaves the keyset
// for good, its id stays, so Decrypt still says which key a value needed.
package keys

package api

// KeyVersionHeader declares, on a request whose body may be large (push,
// rotate), the key version the body is sealed under: the account's current
// key version for a push, the next one for a rotation. The server checks it
// against the session's account before it reads a byte of the body, and
// without it allows such a request only MaxBody bytes. A device that has
// not seen a rotation thus learns it from a small answer instead of
// uploading megabytes the server would refuse.
const KeyVersionHeader = "Keyhold-Key-Version"

// CodeBusy is the error code of a 503 answer: the server is serving as many
// large requests as it allows at once. Retry-After says when to try again.
const CodeBusy = "busy"

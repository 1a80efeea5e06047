package transfer

import (
	"errors"
	"io"
	"time"

	"github.com/keyhold/keyhold/internal/item"
)

// Imported is one item read from another password manager's file.
type Imported struct {
	// Item is the item as it will be created. It passes item.Validate.
	Item *item.Item
	// History holds the entry's earlier versions, oldest first, when the
	// source keeps them (KeePass does). Each passes item.Validate.
	History []*item.Item
	// Source names the entry in the source file for messages: its path
	// of groups or folder and its title ("Banking/Chase"). Never a secret.
	Source string
}

// ImportResult is what a source reader found.
type ImportResult struct {
	Items []Imported
	// Unmapped lists, one line each, every value the reader found but
	// could not give a place in an item, and every entry it skipped, with
	// the reason: `entry "Banking/Chase": attachment "scan.pdf" (2.1 MiB)
	// is larger than an item can hold`. Lines name fields, never values.
	// Nothing is ever dropped without a line here.
	Unmapped []string
	// Skipped counts entries or rows that held nothing at all.
	Skipped int
}

// ImportOptions are what a source reader may need.
type ImportOptions struct {
	// Password opens an encrypted source (KeePass, a password-protected
	// Bitwarden export). nil when none was given; readers of encrypted
	// files then return ErrSourcePassword.
	Password []byte
	// EmptyPassword says the source's password is set and empty. KeePass
	// tells the two apart: an empty password is hashed into the key like
	// any other, while "no password" leaves it out. Password must be
	// empty when this is set.
	EmptyPassword bool
	// KeyFile is the content of a KeePass key file, or nil.
	KeyFile []byte
	// Now is the time given to items the source does not date.
	Now time.Time
	// Progress, if not nil, is called now and then with the number of
	// entries read so far and the total (0 when not known yet).
	Progress func(done, total int)
	// MaxAttachments bounds the attachment data the import brings in all;
	// zero means MaxImportAttachmentBytes.
	MaxAttachments int64
}

// AttachmentCap is the bound on an import's attachment data in all.
func (o *ImportOptions) AttachmentCap() int64 {
	if o.MaxAttachments > 0 {
		return o.MaxAttachments
	}
	return MaxImportAttachmentBytes
}

// MaxImportAttachmentBytes bounds the attachment data one import brings
// in all. A hostile file can point thousands of entries at one large
// attachment (KeePass shares attachments between entries, and a 1PUX can
// name one file many times); past this, attachments are reported as not
// imported instead of filling memory and the vault.
const MaxImportAttachmentBytes = 256 << 20

// SourceReader reads one format. data is the whole file. A reader returns
// either every item of the file or an error, never a partial result, and
// its error says what is wrong in words a user can act on, without
// quoting values from the file.
type SourceReader func(data []byte, opts ImportOptions) (*ImportResult, error)

// CSVStreamReader reads one CSV export format from a stream; it returns
// every item of the file or an error, as a SourceReader does.
type CSVStreamReader func(r io.Reader, opts ImportOptions) (*ImportResult, error)

// Errors shared by source readers.
var (
	// ErrSourcePassword means the file is encrypted and no password, or
	// a wrong one (or a wrong key file), was given.
	ErrSourcePassword = errors.New("the file's password (or key file) is missing or wrong")
	// ErrSourceFormat means the file is not in the format named, or is
	// damaged or truncated. Wrapped with details.
	ErrSourceFormat = errors.New("the file is not a valid export in this format")
)

// Package transfer moves items in and out of Keyhold without going through
// the vault's storage: the types every import reader returns
// (ImportResult, Imported) and takes (ImportOptions), and the encrypted
// "keyhold" export for backups and moving a whole account. Each other
// password manager's format is read by its own package below this one
// (kdbx, bitwarden, onepassword, msecure, lastpass, browser), Keyhold's own
// CSV by keyholdcsv; package sources is the table of them.
//
// Everything here works on decrypted [item.Item] values, so both directions
// are all-or-nothing and validate every item: an import that fails returns
// no items at all, never a partial list the caller might save by mistake,
// and an export never writes a file that [ReadExport] would refuse.
//
// CSV is plaintext. It exists because every password manager speaks it,
// not because it is a good way to keep secrets; the encrypted export is the
// format to keep.
package transfer

package rueidisstore

import (
	"encoding"
	"fmt"
	"strconv"

	"github.com/attrcache/attrcache/internal/backend"
)

// appendArgs appends attrcache's script arguments to dst as the strings
// rueidis sends, in the forms go-redis would write them: strings and
// bytes as they are, integers in decimal, and an
// encoding.BinaryMarshaler (the call's exactly-once argument) as its
// bytes, marshalled once here, so that every resend carries the same
// bytes.
func appendArgs(dst []string, args []any) ([]string, error) {
	for _, a := range args {
		switch a := a.(type) {
		case string:
			dst = append(dst, a)
		case *backend.Text:
			dst = append(dst, a.S)
		case []byte:
			dst = append(dst, string(a))
		case int:
			dst = append(dst, strconv.Itoa(a))
		case int64:
			dst = append(dst, strconv.FormatInt(a, 10))
		case int32:
			dst = append(dst, strconv.FormatInt(int64(a), 10))
		case uint32:
			dst = append(dst, strconv.FormatUint(uint64(a), 10))
		case uint64:
			dst = append(dst, strconv.FormatUint(a, 10))
		case uint8:
			dst = append(dst, strconv.FormatUint(uint64(a), 10))
		case bool:
			if a {
				dst = append(dst, "1")
			} else {
				dst = append(dst, "0")
			}
		case nil:
			dst = append(dst, "")
		case encoding.BinaryMarshaler:
			b, err := a.MarshalBinary()
			if err != nil {
				return nil, err
			}
			dst = append(dst, string(b))
		default:
			// The type only: an argument may be a value.
			return nil, fmt.Errorf("rueidisstore: a script argument of type %T", a)
		}
	}
	return dst, nil
}

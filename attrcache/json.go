package attrcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Typed values. Zato's attributes hold any JSON value; these helpers do
// the marshalling, with the same options and errors as the byte calls.
// Their errors name the attribute and the Go type, never the value: an
// encoding/json error can quote the value it choked on, so it is not
// passed on.

// GetJSON reads the attribute and decodes its value, JSON, into a T. It
// returns the errors of Get, and ErrCorrupt (a *NamesError) when the
// stored value is not JSON that decodes into a T.
func GetJSON[T any](ctx context.Context, s Attributes, name string, opts ...ReadOption) (T, error) {
	var v T
	e, err := s.Get(ctx, name, opts...)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(e.Value, &v); err != nil {
		return v, fmt.Errorf("%w (the value does not decode as JSON into %T: %s)",
			&NamesError{Err: ErrCorrupt, Names: []string{name}}, v, jsonProblem(err))
	}
	return v, nil
}

// SetJSON encodes v as JSON and Sets it; ErrInvalid if v does not encode.
func SetJSON[T any](ctx context.Context, s Attributes, name string, v T, opts ...WriteOption) error {
	b, err := encodeJSON(name, v)
	if err != nil {
		return err
	}
	return s.Set(ctx, name, b, opts...)
}

// CreateJSON encodes v as JSON and Creates it; ErrInvalid if v does not
// encode.
func CreateJSON[T any](ctx context.Context, s Attributes, name string, v T, opts ...WriteOption) error {
	b, err := encodeJSON(name, v)
	if err != nil {
		return err
	}
	return s.Create(ctx, name, b, opts...)
}

// UpdateJSON encodes v as JSON and Updates it; ErrInvalid if v does not
// encode.
func UpdateJSON[T any](ctx context.Context, s Attributes, name string, v T, opts ...WriteOption) error {
	b, err := encodeJSON(name, v)
	if err != nil {
		return err
	}
	return s.Update(ctx, name, b, opts...)
}

func encodeJSON[T any](name string, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, invalidf(fmt.Sprintf("value for %q (%T) does not encode as JSON: %s", name, v, jsonProblem(err)))
	}
	return b, nil
}

// jsonProblem describes an encoding/json error without quoting the data.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var unsup *json.UnsupportedTypeError
	var val *json.UnsupportedValueError
	var mar *json.MarshalerError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("a JSON %s cannot go into field %s of type %v", typ.Value, typ.Field, typ.Type)
		}
		return fmt.Sprintf("a JSON %s cannot go into %v", typ.Value, typ.Type)
	case errors.As(err, &unsup):
		return fmt.Sprintf("type %v is not supported", unsup.Type)
	case errors.As(err, &val):
		return "an unsupported value (NaN, an infinity or a cycle)"
	case errors.As(err, &mar):
		return fmt.Sprintf("the MarshalJSON or MarshalText method of %v failed", mar.Type)
	}
	return fmt.Sprintf("%T", err)
}

package api

import (
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/rotorhq/rotor/apiproto"
	"github.com/rotorhq/rotor/internal/node"
)

// Error codes the server API answers with (the shared code table).
const (
	CodeInternal              uint32 = 100
	CodeUnknownChannel        uint32 = 102
	CodeMethodNotFound        uint32 = 104
	CodeBadRequest            uint32 = 107
	CodeNotAvailable          uint32 = 108
	CodeUnrecoverablePosition uint32 = 112
	CodeConflict              uint32 = 113
)

// apiError converts a node error value into a fresh wire error. A fresh value
// per response keeps responses independent of each other: proto messages
// must not be shared between concurrent marshals.
func apiError(e *node.Error) *apiproto.Error {
	return &apiproto.Error{Code: e.Code, Message: e.Message}
}

func errInternal() *apiproto.Error       { return apiError(node.ErrorInternal) }
func errBadRequest() *apiproto.Error     { return apiError(node.ErrorBadRequest) }
func errMethodNotFound() *apiproto.Error { return apiError(node.ErrorMethodNotFound) }

// HTTPStatus is the HTTP status an API error maps to in the transport error
// mode: 100 → 500, 102 and 104 → 404, 107 and 108 → 400, 112 → 416,
// 113 → 409; any other code (application codes included) → 500.
func HTTPStatus(e *apiproto.Error) int {
	switch e.GetCode() {
	case CodeUnknownChannel, CodeMethodNotFound:
		return http.StatusNotFound
	case CodeBadRequest, CodeNotAvailable:
		return http.StatusBadRequest
	case CodeUnrecoverablePosition:
		return http.StatusRequestedRangeNotSatisfiable
	case CodeConflict:
		return http.StatusConflict
	default:
		return http.StatusInternalServerError
	}
}

// GRPCCode is the gRPC status code an API error maps to in the transport
// error mode: 100 → Internal, 102 and 104 → NotFound, 107 and 108 →
// InvalidArgument, 112 → OutOfRange, 113 → AlreadyExists; any other code →
// Internal.
func GRPCCode(e *apiproto.Error) codes.Code {
	switch e.GetCode() {
	case CodeUnknownChannel, CodeMethodNotFound:
		return codes.NotFound
	case CodeBadRequest, CodeNotAvailable:
		return codes.InvalidArgument
	case CodeUnrecoverablePosition:
		return codes.OutOfRange
	case CodeConflict:
		return codes.AlreadyExists
	default:
		return codes.Internal
	}
}

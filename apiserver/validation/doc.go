// Package validation checks objects the way kube-apiserver's validation does,
// returning field.ErrorLists whose paths and messages match the real server so
// that kubectl prints the same "The Service "x" is invalid: ..." errors.
package validation

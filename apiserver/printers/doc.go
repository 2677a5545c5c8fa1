// Package printers turns objects into the rows of the server-side Table that
// kubectl prints: the same columns, -o wide columns and cell values that
// kube-apiserver's printers produce for each built-in resource.
package printers

# Cython declarations for pool.py (read only when `simulator.native_build` compiles it; the .py
# stays plain Python): the memory ledger's loop in C doubles, the same additions in the same
# order as the pure Python path's cumsum.
cimport cython

@cython.locals(m=Py_ssize_t, r=Py_ssize_t, c=Py_ssize_t, n=Py_ssize_t, off=Py_ssize_t,
               s=double, flat_v="const double[:]", lens_v="const Py_ssize_t[:]",
               out_v="double[:]")
cpdef ledger_row_sums(flat, lens, Py_ssize_t rows, double start, out)

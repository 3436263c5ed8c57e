#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H
// The Linux interfaces Swift's Glibc module leaves out: epoll, accept4 and malloc_trim, for the parking lot
// (see Sources/ChatServer/Chat/ParkingLot.swift).
#include <malloc.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

/// accept4(2) without the peer's address (glibc declares it only under _GNU_SOURCE).
static inline int clinux_accept4(int descriptor, int flags) {
    return (int)syscall(SYS_accept4, descriptor, (void *)0, (void *)0, flags);
}
#endif

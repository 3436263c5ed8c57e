#ifndef CLINUX_SHIM_H
#define CLINUX_SHIM_H
// The Linux interfaces Swift's Glibc module leaves out: epoll, accept4, malloc_trim and naming a thread,
// for the parking lot (see Sources/ChatServer/Chat/ParkingLot.swift).
#include <malloc.h>
#include <sys/prctl.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

/// accept4(2) without the peer's address (glibc declares it only under _GNU_SOURCE).
static inline int clinux_accept4(int descriptor, int flags) {
    return (int)syscall(SYS_accept4, descriptor, (void *)0, (void *)0, flags);
}

/// Names the calling thread (what `top -H` and /proc/PID/task/TID/comm show); at most 15 bytes.
static inline void clinux_name_thread(const char *name) {
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}
#endif

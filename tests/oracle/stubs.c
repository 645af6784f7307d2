/*
 * sshkey.c reaches the security-key and PKCS#11 code when it signs or
 * frees hardware-backed keys; the oracle only reads public keys, and
 * libssh.a does not carry those objects in every release. Weak so that a
 * release whose libssh.a has the real function keeps it; calling one of
 * these is a bug.
 */
#include <stdlib.h>

int sshsk_sign(void) __attribute__((weak));
void pkcs11_key_free(void) __attribute__((weak));
int pkcs11_sign(void) __attribute__((weak));

int sshsk_sign(void) { abort(); }
void pkcs11_key_free(void) { abort(); }
int pkcs11_sign(void) { abort(); }

; Boot-sector guest for the lab: it writes a stamp to its own disk about
; every 110 ms, so the checker can tell which running instance wrote last and
; a storage fault really pauses it (qemu's werror=stop freezes the write).
;
; Drive DL (the boot disk, on the shared storage) gets the stamps in LBA
; 1..64, round robin.  The other drive (DL xor 1) is the host's identity
; disk: its first sector names the host the instance runs on, read before
; each write (a live migration moves the instance to another host).
;
; Stamp layout (little endian), see tests/lab/stamp.h:
;   0  "VIGLSTMP"   8  instance id (TSC at boot)   16  sequence number
;   24 host name, 32 bytes, NUL padded
bits 16
org 0x7c00

kSlots  equ 64
kBuf    equ 0x8000          ; the stamp being written
kIdBuf  equ 0x8200          ; the identity sector

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    mov [boot_drive], dl

    ; Zero the stamp buffer, then fill in what never changes.
    mov di, kBuf
    mov cx, 256
    xor ax, ax
    rep stosw
    mov si, magic
    mov di, kBuf
    mov cx, 8
    rep movsb
    rdtsc
    mov [kBuf + 8], eax
    mov [kBuf + 12], edx

write_loop:
    ; The host's name, read again before every write: an instance that a
    ; live migration moved runs on, with the same id and sequence, on a
    ; host whose identity disk names another.
    mov dl, [boot_drive]
    xor dl, 1
    mov word [dap_buf], kIdBuf
    mov dword [dap_lba], 0
    mov si, dap
    mov ah, 0x42
    int 0x13
    jc .keep_identity
    mov si, kIdBuf
    mov di, kBuf + 24
    mov cx, 32
    rep movsb
.keep_identity:
    mov word [dap_buf], kBuf
    add dword [kBuf + 16], 1
    adc dword [kBuf + 20], 0
    mov eax, [kBuf + 16]
    and eax, kSlots - 1
    inc eax
    mov [dap_lba], eax
    mov dl, [boot_drive]
    mov si, dap
    mov ax, 0x4300
    int 0x13
    ; Two timer ticks (18.2 Hz) between writes keep six guests cheap on two
    ; cores while the checker, sampling every 100 ms, still sees progress.
    sti
    hlt
    hlt
    jmp write_loop

magic       db "VIGLSTMP"
boot_drive  db 0
align 4
dap:
    db 0x10, 0
    dw 1
dap_buf:
    dw kBuf, 0
dap_lba:
    dd 0, 0

times 510 - ($ - $$) db 0
    dw 0xaa55

// The child side of isolated decoding: a hidden subcommand of dataset-build
// that decodes one file and exits.
//
//   dataset-build __decode-worker --fd 3 --parent PID
//       [--max-pixels N [--max-pixels-hint TEXT]] (-- PATH | --control 4)
//
// With `-- PATH` it decodes that one file and exits. With `--control FD`
// it serves (IsolatedDecoder's pool of long-lived workers): it reads
// requests from the socket FD, each a u32 length and that many bytes of
// path, decodes each into a record at the start of --fd (kept mapped and
// never shrunk, raw/decode_record.h: RecordMapping) and answers
// kAnswerSize bytes when the record is complete: kRecordReady and the
// record's size (u64, native order; 0 = the file's size). An image record
// leaves the raw values in the worker's memory (raw/decode_record.h); the
// worker then waits for one byte:
//   - kPixelsFill, sent with a memfd (SCM_RIGHTS) of at least width x
//     height floats (raw/shared_planes.h): the worker maps it (keeping the
//     last few such mappings), normalises the values into it
//     (UnpackedRaw::Normalise, the in-process decoder's own code), closes
//     the descriptor and answers kRecordReady with 0, or with the errno
//     that stopped it (nothing written); then it waits for the next byte;
//   - kPixelsTaken: the parent has the pixels; they are freed;
//   - kPixelsTakenKeep: the same, and the worker keeps the freed buffer's
//     pages for its next file;
//   - kPixelsInRecord: the parent may not read them: they are written into
//     the record and a second kRecordReady answer follows.
// After every other request the worker hands its freed memory back to the
// system. It exits 0 when the parent closes the socket. A file that
// crashes it takes only that request down.
//
// IsolatedDecoder (raw/isolated_decoder.h) starts it through /proc/self/exe,
// so no second binary needs installing. The worker:
//   - asks the kernel to SIGKILL it when its parent dies
//     (PR_SET_PDEATHSIG) and exits at once if PID is already gone, so a
//     kill -9 of the build leaves no decoder behind (a serving worker
//     instead exits when its control socket closes, at most one decode
//     later);
//   - caps its address space (RLIMIT_AS) at what it has at start plus
//     kBytesPerPixel per allowed pixel plus headroom, so a file whose
//     internal sizes are huge fails with kResourceExhausted instead of
//     exhausting the machine;
//   - unpacks PATH (UnpackRaw, raw/decoder.h; from the file held whole
//     in memory, DecodeOptions::file_in_memory) and writes the result, image
//     or error, as a decode record (raw/decode_record.h) into descriptor
//     --fd, the pixels normalised straight into the record's mapped pages
//     (written once, never copied);
//   - exits 0 whenever the record was written, whatever the decode said.
// Exit statuses: 0 record written, 2 bad arguments, 3 the record could not
// be written, 4 the parent was already gone.
//
// Thread safety: meant to be the whole life of a process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace dsb {

inline constexpr std::string_view kDecodeWorkerCommand = "__decode-worker";
// A serving worker's answer: the record for the last request is written.
inline constexpr char kRecordReady = 'R';
inline constexpr std::size_t kAnswerSize = 1 + sizeof(std::uint64_t);
// The parent's word on pixels a record left in the worker's memory.
inline constexpr char kPixelsTaken = 'T';
inline constexpr char kPixelsTakenKeep = 'K';
inline constexpr char kPixelsInRecord = 'P';
inline constexpr char kPixelsFill = 'F';
// The longest path a request may carry.
inline constexpr std::uint32_t kMaxRequestPath = 64 * 1024;

// The parent's one-byte `word` to a worker over the control socket, with
// descriptor `fd` sent beside it (SCM_RIGHTS); false when the worker is
// gone. The worker reads it with ReadControlWord: `fd` is -1 when none came
// and is close-on-exec; false at end of file or on an error.
bool SendControlWord(int control, char word, int fd);
bool ReadControlWord(int control, char* word, int* fd);

// The memory cap for a worker allowed `max_pixels` pixels whose address
// space is `base_bytes` before it decodes (0 pixels: no cap, returns 0).
// LibRaw holds 2-3 times the raw data (2 bytes a pixel, sometimes with
// 4-channel buffers of 8) and the decoded plane adds 4.
inline constexpr std::size_t kWorkerBytesPerPixel = 16;
inline constexpr std::size_t kWorkerHeadroomBytes = std::size_t{512} << 20;
std::size_t WorkerAddressSpaceLimit(std::size_t base_bytes,
                                    std::size_t max_pixels);

// For the first line of main(): when argv[1] is the worker subcommand, runs
// the worker and returns its exit status; otherwise returns nullopt and
// records that this executable can serve as its own worker. IsolatedDecoder
// refuses its default worker (/proc/self/exe) in a program that never
// called this: a test binary with gtest's main would otherwise run its
// whole suite, builds included, as every "worker".
std::optional<int> RunDecodeWorkerIfAsked(int argc, char** argv);
bool HasDecodeWorkerEntry();

// The worker itself; argv[0] is the subcommand ("__decode-worker").
// Returns the exit status.
int RunDecodeWorker(int argc, char** argv);

}  // namespace dsb

#include "manifest/manifest.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <charconv>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "manifest/schema_migrations.h"
#include "manifest/sqlite_statement.h"
#include "manifest/sqlite_status.h"

namespace dsb {

namespace {

// The double nearest the float's shortest decimal form: 0.3f (which is
// 0.300000011920928955...) becomes 0.3, so what SQL users and exports see is
// what the camera reported, and converting back to float gives the same
// float.
double StoredFloat(float value) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  if (ec != std::errc()) return value;
  double result = value;
  std::from_chars(buffer, end, result);
  return result;
}

std::optional<std::string> NullIfEmpty(const std::string& text) {
  if (text.empty()) return std::nullopt;
  return text;
}

std::string MatrixJson(const RgbXyzMatrix& matrix) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : matrix) {
    nlohmann::json cells = nlohmann::json::array();
    for (float cell : row) cells.push_back(StoredFloat(cell));
    rows.push_back(std::move(cells));
  }
  return rows.dump();
}

Result<std::array<std::array<double, 3>, 4>> ParseMatrixJson(
    const std::string& text, std::string_view db_path, std::string_view file) {
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, false);
  std::array<std::array<double, 3>, 4> matrix{};
  bool good = parsed.is_array() && parsed.size() == 4;
  for (std::size_t r = 0; good && r < 4; ++r) {
    good = parsed[r].is_array() && parsed[r].size() == 3;
    for (std::size_t c = 0; good && c < 3; ++c) {
      good = parsed[r][c].is_number();
      if (good) matrix[r][c] = parsed[r][c].get<double>();
    }
  }
  if (!good) {
    std::string message = "manifest ";
    message += db_path;
    message += ": rgb_xyz_matrix of ";
    message += file;
    message += " is not a 4x3 JSON array of numbers";
    return Status::Corrupt(message);
  }
  return matrix;
}

Result<BuildStatus> ParseBuildStatus(const std::string& text,
                                     std::string_view db_path) {
  if (text == "ok") return BuildStatus::kOk;
  if (text == "failed") return BuildStatus::kFailed;
  return Status::Corrupt("manifest " + std::string(db_path) +
                         ": unknown status '" + text + "'");
}

std::string ManifestMessage(std::string_view db_path, std::string_view text) {
  std::string message = "manifest ";
  message += db_path;
  message += ": ";
  message += text;
  return message;
}

// Reads one integer-valued PRAGMA.
Result<std::int64_t> ReadPragma(sqlite3* db, std::string_view db_path,
                                const char* pragma) {
  DSB_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db, db_path, pragma,
                                          std::string("reading ") + pragma));
  DSB_ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) {
    return Status::Internal(
        ManifestMessage(db_path, std::string(pragma) + " returned no row"));
  }
  return stmt.Int64(0);
}

}  // namespace

std::string_view BuildStatusName(BuildStatus status) {
  return status == BuildStatus::kOk ? "ok" : "failed";
}

FileMetadata FileMetadata::FromRaw(const RawImage& image) {
  FileMetadata metadata;
  metadata.make = image.meta.make;
  metadata.model = image.meta.model;
  metadata.iso = image.meta.iso;
  metadata.cfa_name = image.cfa.name();
  metadata.width = image.width();
  metadata.height = image.height();
  metadata.black = image.meta.black;
  metadata.white = image.meta.white;
  metadata.overexposure_lb = image.meta.overexposure_lb;
  metadata.rgb_xyz_matrix = image.meta.rgb_xyz_matrix;
  metadata.wb_coeffs = image.meta.wb_coeffs;
  return metadata;
}

std::string FormatUtcTimestamp(std::chrono::system_clock::time_point time) {
  const auto ms = std::chrono::floor<std::chrono::milliseconds>(time);
  const auto seconds = std::chrono::floor<std::chrono::seconds>(ms);
  const std::time_t t = std::chrono::system_clock::to_time_t(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[96];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>((ms - seconds).count()));
  return buffer;
}

Manifest::Manifest(sqlite3* db, std::string db_path, OpenMode mode,
                   OpenOptions options)
    : db_(db),
      db_path_(std::move(db_path)),
      mode_(mode),
      options_(std::move(options)) {}

Manifest::~Manifest() { sqlite3_close_v2(db_); }

Result<std::unique_ptr<Manifest>> Manifest::Open(const std::string& db_path,
                                                 OpenMode mode,
                                                 const OpenOptions& options) {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  if (mode == OpenMode::kReadOnly) {
    struct stat info {};
    if (stat(db_path.c_str(), &info) != 0) {
      return Status::NotFound(
          ManifestMessage(db_path, "does not exist (a build creates it)"));
    }
    flags = SQLITE_OPEN_READONLY;
  }
  // No SQLITE_OPEN_URI: the path is a plain file name whatever it contains.
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(db_path.c_str(), &db, flags, nullptr);
  // The Manifest owns the handle from here on, even on failure.
  std::unique_ptr<Manifest> manifest(new Manifest(db, db_path, mode, options));
  if (rc != SQLITE_OK) return SqliteStatus(db, rc, db_path, "opening");
  DSB_RETURN_IF_ERROR(manifest->Configure());
  return manifest;
}

Status Manifest::Configure() {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options_.busy_timeout_ms);
  DSB_RETURN_IF_ERROR(ExecSql(db_, db_path_, "PRAGMA foreign_keys = ON",
                              "enabling foreign keys"));
  DSB_ASSIGN_OR_RETURN(std::int64_t foreign_keys,
                       ReadPragma(db_, db_path_, "PRAGMA foreign_keys"));
  if (foreign_keys != 1) {
    return Status::Unsupported(ManifestMessage(
        db_path_, "this SQLite was built without foreign key support"));
  }

  // Look before touching anything: a newer or foreign file is left as is.
  DSB_ASSIGN_OR_RETURN(std::int64_t version,
                       ReadPragma(db_, db_path_, "PRAGMA user_version"));
  DSB_ASSIGN_OR_RETURN(std::int64_t application_id,
                       ReadPragma(db_, db_path_, "PRAGMA application_id"));
  DSB_ASSIGN_OR_RETURN(
      std::int64_t n_objects,
      ReadPragma(db_, db_path_, "SELECT count(*) FROM sqlite_master"));
  if (version > LatestSchemaVersion()) {
    return NewerSchemaError(db_path_, static_cast<int>(version));
  }
  if ((version > 0 && application_id != kManifestApplicationId) ||
      (version == 0 && n_objects > 0)) {
    return Status::InvalidArgument(ManifestMessage(
        db_path_,
        "is an SQLite database of another program, not a dataset-build "
        "manifest; use another --db"));
  }

  if (mode_ == OpenMode::kReadOnly) {
    // Belt and braces on top of SQLITE_OPEN_READONLY.
    DSB_RETURN_IF_ERROR(ExecSql(db_, db_path_, "PRAGMA query_only = ON",
                                "making the connection read-only"));
    if (version < LatestSchemaVersion()) {
      return Status::Unsupported(
          ManifestMessage(db_path_, "has schema " + std::to_string(version) +
                                        " and this build reads schema " +
                                        std::to_string(LatestSchemaVersion()) +
                                        "; run a build once to migrate it"));
    }
    return Status::Ok();
  }

  // journal_mode answers with the mode in effect; a file system without
  // shared memory (some network mounts) keeps the rollback journal, which
  // is slower for concurrent readers but just as safe.
  {
    DSB_ASSIGN_OR_RETURN(
        Statement wal,
        Statement::Prepare(db_, db_path_, "PRAGMA journal_mode = WAL",
                           "switching to WAL"));
    DSB_RETURN_IF_ERROR(wal.Step().status());
  }
  DSB_RETURN_IF_ERROR(ExecSql(db_, db_path_, "PRAGMA synchronous = NORMAL",
                              "setting synchronous"));
  if (version < LatestSchemaVersion()) {
    DSB_RETURN_IF_ERROR(MigrateSchema(db_, db_path_, LatestSchemaVersion()));
  }
  return Status::Ok();
}

Status Manifest::CheckWritable(std::string_view what) const {
  if (mode_ == OpenMode::kReadWrite) return Status::Ok();
  return Status::InvalidArgument(ManifestMessage(
      db_path_, std::string("is open read-only; cannot ") + std::string(what)));
}

std::string Manifest::Now() const {
  return FormatUtcTimestamp(options_.clock ? options_.clock()
                                           : std::chrono::system_clock::now());
}

namespace {

// The columns of a FileRecord, as LoadFileRows reads them.
constexpr std::string_view kSelectFiles =
    "SELECT scene, role, rel_path, size, mtime_ns, inode, hash, hashed_at_ns "
    "FROM files";

// Every file row `sql` (kSelectFiles and a tail) selects.
Result<std::vector<FileRecord>> LoadFileRows(sqlite3* db,
                                             std::string_view db_path,
                                             std::string_view sql) {
  DSB_ASSIGN_OR_RETURN(Statement stmt,
                       Statement::Prepare(db, db_path, sql, "loading files"));
  std::vector<FileRecord> files;
  while (true) {
    DSB_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    FileRecord file;
    file.scene = stmt.Text(0);
    file.role = stmt.TextView(1) == "gt" ? FileRole::kGt : FileRole::kNoisy;
    file.rel_path = stmt.Text(2);
    file.size = static_cast<std::uint64_t>(stmt.Int64(3));
    file.mtime_ns = stmt.Int64(4);
    file.inode = static_cast<std::uint64_t>(stmt.Int64(5));
    file.hash_hex = stmt.Text(6);
    file.hashed_at_ns = stmt.Int64(7);
    files.push_back(std::move(file));
  }
  return files;
}

}  // namespace

Result<std::vector<FileRecord>> Manifest::LoadFiles() {
  return LoadFileRows(db_, db_path_,
                      std::string(kSelectFiles) + " ORDER BY scene, rel_path");
}

Result<std::vector<FileRecord>> Manifest::LoadFilesUnordered() {
  return LoadFileRows(db_, db_path_, kSelectFiles);
}

Result<std::vector<StoredScene>> Manifest::LoadScenes() {
  DSB_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_, db_path_,
                         "SELECT scene, key, status, error, built_at, "
                         "stale_reason FROM scene_builds ORDER BY scene",
                         "loading scenes"));
  std::vector<StoredScene> scenes;
  while (true) {
    DSB_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    StoredScene scene;
    scene.scene = stmt.Text(0);
    scene.key = stmt.Text(1);
    DSB_ASSIGN_OR_RETURN(scene.status,
                         ParseBuildStatus(stmt.Text(2), db_path_));
    scene.error = stmt.Text(3);
    scene.built_at = stmt.Text(4);
    scene.stale_reason = stmt.OptionalText(5);
    scenes.push_back(std::move(scene));
  }
  return scenes;
}

Status Manifest::RecordScene(const SceneRecord& record) {
  const std::string what = "recording scene " + record.scene;
  DSB_RETURN_IF_ERROR(CheckWritable(what));
  // Checked here rather than left to the foreign keys, whose message
  // ("FOREIGN KEY constraint failed") would not say which file.
  std::set<std::string_view> paths;
  for (const SceneFile& file : record.files) {
    if (file.file.scene != record.scene) {
      return Status::InvalidArgument(ManifestMessage(
          db_path_, what + ": file " + file.file.rel_path +
                        " belongs to scene " + file.file.scene));
    }
    paths.insert(file.file.rel_path);
  }
  for (const PairRecord& pair : record.pairs) {
    for (const std::string* path : {&pair.gt_path, &pair.noisy_path}) {
      if (!paths.contains(*path)) {
        return Status::InvalidArgument(ManifestMessage(
            db_path_,
            what + ": pair names " + *path + ", which is not among its files"));
      }
    }
  }

  DSB_ASSIGN_OR_RETURN(Transaction transaction,
                       Transaction::Begin(db_, db_path_, what));
  // Deleting cascades to the scene's files and pairs: the new record
  // replaces the old one whole, whatever it contained.
  DSB_ASSIGN_OR_RETURN(
      Statement remove,
      Statement::Prepare(db_, db_path_,
                         "DELETE FROM scene_builds WHERE scene = ?1", what));
  DSB_RETURN_IF_ERROR(remove.BindText(1, record.scene).Run());

  DSB_ASSIGN_OR_RETURN(
      Statement scene,
      Statement::Prepare(
          db_, db_path_,
          "INSERT INTO scene_builds (scene, key, cfa, cfa_pattern, width, "
          "height, n_files, status, error, stale_reason, built_at, decode_s, "
          "align_s, mask_s, figures_s, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
          "?7, ?8, ?9, NULL, ?10, ?11, ?12, ?13, ?14, ?15)",
          what));
  scene.BindText(1, record.scene).BindText(2, record.key);
  if (record.cfa) {
    scene.BindText(3, record.cfa->kind()).BindText(4, record.cfa->name());
  } else {
    scene.BindNull(3).BindNull(4);
  }
  scene.BindInt64(5, record.width)
      .BindInt64(6, record.height)
      .BindInt64(7, static_cast<std::int64_t>(record.files.size()))
      .BindText(8, BuildStatusName(record.status))
      .BindOptionalText(9, NullIfEmpty(record.error))
      .BindText(10, Now())
      .BindDouble(11, record.timings.decode_s)
      .BindDouble(12, record.timings.align_s)
      .BindDouble(13, record.timings.mask_s)
      .BindDouble(14, record.timings.figures_s)
      .BindOptionalInt64(15, record.run_id);
  DSB_RETURN_IF_ERROR(scene.Run());

  DSB_ASSIGN_OR_RETURN(
      Statement file_insert,
      Statement::Prepare(
          db_, db_path_,
          "INSERT INTO files (scene, rel_path, role, size, mtime_ns, inode, "
          "hash, make, model, iso, cfa_pattern, width, height, black_r, "
          "black_g, black_b, white, overexposure_lb, rgb_xyz_matrix, wb_r, "
          "wb_g, wb_b, hashed_at_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
          "?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, "
          "?22, ?23)",
          what));
  for (const SceneFile& file : record.files) {
    const FileRecord& f = file.file;
    file_insert.BindText(1, record.scene)
        .BindText(2, f.rel_path)
        .BindText(3, FileRoleName(f.role))
        // uint64 -> int64 keeps the bit pattern; LoadFiles casts back.
        .BindInt64(4, static_cast<std::int64_t>(f.size))
        .BindInt64(5, f.mtime_ns)
        .BindInt64(6, static_cast<std::int64_t>(f.inode))
        .BindText(7, f.hash_hex)
        .BindInt64(23, f.hashed_at_ns);
    if (file.metadata) {
      const FileMetadata& m = *file.metadata;
      file_insert.BindText(8, m.make)
          .BindText(9, m.model)
          .BindDouble(10, StoredFloat(m.iso))
          .BindText(11, m.cfa_name)
          .BindInt64(12, m.width)
          .BindInt64(13, m.height)
          .BindDouble(14, StoredFloat(m.black[0]))
          .BindDouble(15, StoredFloat(m.black[1]))
          .BindDouble(16, StoredFloat(m.black[2]))
          .BindDouble(17, StoredFloat(m.white))
          .BindDouble(18, StoredFloat(m.overexposure_lb))
          .BindText(19, MatrixJson(m.rgb_xyz_matrix))
          .BindDouble(20, StoredFloat(m.wb_coeffs[0]))
          .BindDouble(21, StoredFloat(m.wb_coeffs[1]))
          .BindDouble(22, StoredFloat(m.wb_coeffs[2]));
    } else {
      for (int i = 8; i <= 22; ++i) file_insert.BindNull(i);
    }
    DSB_RETURN_IF_ERROR(file_insert.Run());
  }

  DSB_ASSIGN_OR_RETURN(
      Statement pair_insert,
      Statement::Prepare(
          db_, db_path_,
          "INSERT INTO pairs (scene, gt_path, noisy_path, status, error, dy, "
          "dx, dy_subpx, dx_subpx, confidence, loss, raw_gain, rgb_gain, "
          "overexposure_lb, mask_path, mask_mean, rawnind_loss) VALUES (?1, "
          "?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
          "?17)",
          what));
  for (const PairRecord& pair : record.pairs) {
    pair_insert.BindText(1, record.scene)
        .BindText(2, pair.gt_path)
        .BindText(3, pair.noisy_path)
        .BindText(4, BuildStatusName(pair.status))
        .BindOptionalText(5, NullIfEmpty(pair.error));
    if (pair.alignment) {
      const Alignment& a = *pair.alignment;
      pair_insert.BindInt64(6, a.dy)
          .BindInt64(7, a.dx)
          .BindDouble(8, a.dy_subpx)
          .BindDouble(9, a.dx_subpx)
          .BindDouble(10, a.confidence)
          .BindDouble(11, a.loss)
          .BindDouble(12, a.raw_gain);
    } else {
      for (int i = 6; i <= 12; ++i) pair_insert.BindNull(i);
    }
    pair_insert.BindOptionalDouble(13, pair.rgb_gain)
        .BindOptionalDouble(14, pair.overexposure_lb)
        .BindOptionalText(15, pair.mask_path)
        .BindOptionalDouble(16, pair.mask_mean)
        .BindOptionalDouble(17, pair.rawnind_loss);
    DSB_RETURN_IF_ERROR(pair_insert.Run());
  }
  return transaction.Commit();
}

Result<std::vector<std::string>> Manifest::RemoveScene(
    const std::string& scene) {
  const std::string what = "removing scene " + scene;
  DSB_RETURN_IF_ERROR(CheckWritable(what));
  DSB_ASSIGN_OR_RETURN(Transaction transaction,
                       Transaction::Begin(db_, db_path_, what));
  DSB_ASSIGN_OR_RETURN(
      Statement masks,
      Statement::Prepare(db_, db_path_,
                         "SELECT DISTINCT mask_path FROM pairs WHERE scene = "
                         "?1 AND mask_path IS NOT NULL ORDER BY mask_path",
                         what));
  masks.BindText(1, scene);
  std::vector<std::string> mask_paths;
  while (true) {
    DSB_ASSIGN_OR_RETURN(bool row, masks.Step());
    if (!row) break;
    mask_paths.push_back(masks.Text(0));
  }
  DSB_ASSIGN_OR_RETURN(
      Statement remove,
      Statement::Prepare(db_, db_path_,
                         "DELETE FROM scene_builds WHERE scene = ?1", what));
  DSB_RETURN_IF_ERROR(remove.BindText(1, scene).Run());
  DSB_RETURN_IF_ERROR(transaction.Commit());
  return mask_paths;
}

Status Manifest::UpdateFileFingerprints(const std::vector<FileRecord>& files) {
  if (files.empty()) return Status::Ok();
  const std::string what = "refreshing file fingerprints";
  DSB_RETURN_IF_ERROR(CheckWritable(what));
  DSB_ASSIGN_OR_RETURN(Transaction transaction,
                       Transaction::Begin(db_, db_path_, what));
  DSB_ASSIGN_OR_RETURN(
      Statement update,
      Statement::Prepare(db_, db_path_,
                         "UPDATE files SET size = ?3, mtime_ns = ?4, "
                         "inode = ?5, hashed_at_ns = ?6 WHERE scene = ?1 AND "
                         "rel_path = ?2 AND hash = ?7",
                         what));
  for (const FileRecord& f : files) {
    DSB_RETURN_IF_ERROR(update.BindText(1, f.scene)
                            .BindText(2, f.rel_path)
                            .BindInt64(3, static_cast<std::int64_t>(f.size))
                            .BindInt64(4, f.mtime_ns)
                            .BindInt64(5, static_cast<std::int64_t>(f.inode))
                            .BindInt64(6, f.hashed_at_ns)
                            .BindText(7, f.hash_hex)
                            .Run());
  }
  return transaction.Commit();
}

Status Manifest::MarkStale(const std::string& scene, std::string_view reason) {
  const std::string what = "marking scene " + scene + " stale";
  DSB_RETURN_IF_ERROR(CheckWritable(what));
  DSB_ASSIGN_OR_RETURN(
      Statement mark,
      Statement::Prepare(
          db_, db_path_,
          "UPDATE scene_builds SET stale_reason = ?2 WHERE scene = ?1", what));
  DSB_RETURN_IF_ERROR(mark.BindText(1, scene).BindText(2, reason).Run());
  if (sqlite3_changes(db_) == 0) {
    return Status::NotFound(
        ManifestMessage(db_path_, what + ": no such scene recorded"));
  }
  return Status::Ok();
}

Result<std::int64_t> Manifest::BeginRun(std::string_view tool_version,
                                        std::string_view params_json) {
  const std::string what = "starting a run";
  DSB_RETURN_IF_ERROR(CheckWritable(what));
  DSB_ASSIGN_OR_RETURN(
      Statement insert,
      Statement::Prepare(db_, db_path_,
                         "INSERT INTO runs (started_at, tool_version, "
                         "parameters) VALUES (?1, ?2, ?3)",
                         what));
  DSB_RETURN_IF_ERROR(insert.BindText(1, Now())
                          .BindText(2, tool_version)
                          .BindText(3, params_json)
                          .Run());
  return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Status Manifest::EndRun(std::int64_t run_id, const RunCounts& counts,
                        int exit_status) {
  const std::string what = "ending run " + std::to_string(run_id);
  DSB_RETURN_IF_ERROR(CheckWritable(what));
  DSB_ASSIGN_OR_RETURN(
      Statement update,
      Statement::Prepare(
          db_, db_path_,
          "UPDATE runs SET ended_at = ?2, scenes_total = ?3, scenes_built = "
          "?4, scenes_up_to_date = ?5, scenes_failed = ?6, scenes_removed = "
          "?7, pairs_ok = ?8, pairs_failed = ?9, exit_status = ?10 WHERE id = "
          "?1",
          what));
  DSB_RETURN_IF_ERROR(update.BindInt64(1, run_id)
                          .BindText(2, Now())
                          .BindInt64(3, counts.scenes_total)
                          .BindInt64(4, counts.scenes_built)
                          .BindInt64(5, counts.scenes_up_to_date)
                          .BindInt64(6, counts.scenes_failed)
                          .BindInt64(7, counts.scenes_removed)
                          .BindInt64(8, counts.pairs_ok)
                          .BindInt64(9, counts.pairs_failed)
                          .BindInt64(10, exit_status)
                          .Run());
  if (sqlite3_changes(db_) == 0) {
    return Status::NotFound(ManifestMessage(db_path_, what + ": no such run"));
  }
  return Status::Ok();
}

Status Manifest::VisitMaskPaths(
    const std::function<void(std::string_view)>& visit) {
  DSB_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_, db_path_,
                         "SELECT mask_path FROM pairs WHERE mask_path IS NOT "
                         "NULL",
                         "listing mask paths"));
  while (true) {
    DSB_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return Status::Ok();
    visit(stmt.TextView(0));
  }
}

Result<std::vector<SceneRow>> Manifest::LoadScenesView() {
  DSB_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(db_, db_path_,
                         "SELECT scene, cfa, width, height, n_files, status, "
                         "built_at, error FROM scenes ORDER BY scene",
                         "loading the scenes view"));
  std::vector<SceneRow> rows;
  while (true) {
    DSB_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    SceneRow scene;
    scene.scene = stmt.Text(0);
    scene.cfa = stmt.OptionalText(1);
    scene.width = static_cast<int>(stmt.Int64(2));
    scene.height = static_cast<int>(stmt.Int64(3));
    scene.n_files = static_cast<int>(stmt.Int64(4));
    scene.status = stmt.Text(5);
    scene.built_at = stmt.Text(6);
    scene.error = stmt.OptionalText(7);
    rows.push_back(std::move(scene));
  }
  return rows;
}

Result<std::vector<PairRow>> Manifest::LoadPairsForExport() {
  // Read through the view so exports show exactly what users query; the
  // joins add what RawNIND's format needs besides.
  DSB_ASSIGN_OR_RETURN(
      Statement stmt,
      Statement::Prepare(
          db_, db_path_,
          "SELECT a.scene, a.gt_path, a.noisy_path, a.dy, a.dx, a.dy_subpx, "
          "a.dx_subpx, a.confidence, a.loss, a.raw_gain, a.overexposure_lb, "
          "a.mask_path, a.mask_mean, a.status, a.error, p.rgb_gain, s.cfa, "
          "f.cfa_pattern, f.rgb_xyz_matrix, p.rawnind_loss "
          "FROM alignments AS a "
          "JOIN pairs AS p ON p.scene = a.scene AND p.gt_path = a.gt_path AND "
          "p.noisy_path = a.noisy_path "
          "JOIN scene_builds AS s ON s.scene = a.scene "
          "LEFT JOIN files AS f ON f.scene = a.scene AND f.rel_path = "
          "a.gt_path "
          "ORDER BY a.scene, a.gt_path, a.noisy_path",
          "loading pairs"));
  std::vector<PairRow> rows;
  while (true) {
    DSB_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    PairRow out;
    out.scene = stmt.Text(0);
    PairRecord& pair = out.pair;
    pair.gt_path = stmt.Text(1);
    pair.noisy_path = stmt.Text(2);
    // RecordScene writes the seven alignment columns all or none.
    if (!stmt.IsNull(3)) {
      Alignment a;
      a.dy = static_cast<int>(stmt.Int64(3));
      a.dx = static_cast<int>(stmt.Int64(4));
      a.dy_subpx = stmt.Double(5);
      a.dx_subpx = stmt.Double(6);
      a.confidence = stmt.Double(7);
      a.loss = stmt.Double(8);
      a.raw_gain = stmt.Double(9);
      pair.alignment = a;
    }
    pair.overexposure_lb = stmt.OptionalDouble(10);
    pair.mask_path = stmt.OptionalText(11);
    pair.mask_mean = stmt.OptionalDouble(12);
    DSB_ASSIGN_OR_RETURN(pair.status,
                         ParseBuildStatus(stmt.Text(13), db_path_));
    pair.error = stmt.Text(14);
    pair.rgb_gain = stmt.OptionalDouble(15);
    pair.rawnind_loss = stmt.OptionalDouble(19);
    out.cfa = stmt.OptionalText(16);
    out.gt_cfa_pattern = stmt.OptionalText(17);
    if (std::optional<std::string> matrix = stmt.OptionalText(18)) {
      DSB_ASSIGN_OR_RETURN(out.gt_rgb_xyz_matrix,
                           ParseMatrixJson(*matrix, db_path_, pair.gt_path));
    }
    rows.push_back(std::move(out));
  }
  return rows;
}

}  // namespace dsb

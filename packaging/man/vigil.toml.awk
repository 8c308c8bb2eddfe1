# packaging/vigil.toml -> vigil.toml(5). The comment block before the first
# section is the description; each [section] a subsection; each key (or
# group of keys under one comment) an entry with its default and the comment
# that explains it. Variables: version, date.
function esc(s) {
  gsub(/\\/, "\\e", s)
  gsub(/-/, "\\-", s)
  return s
}
function text(s) {
  s = esc(s)
  if (s ~ /^[.']/) s = "\\&" s
  return s
}
function flush(   i) {
  if (verbatim) { comment[++ncomment] = ".fi"; verbatim = 0 }
  if (nkeys == 0) return
  for (i = 1; i <= nkeys; i++) print (i == 1 ? ".TP" : ".TQ") "\n" keys[i]
  for (i = 1; i <= ncomment; i++) print comment[i]
  nkeys = 0; ncomment = 0
}
BEGIN {
  print ".TH VIGIL.TOML 5 \"" date "\" \"vigil " version "\" \"File Formats\""
  print ".SH NAME"
  print "vigil.toml \\- configuration of the vigil high-availability agent"
  print ".SH SYNOPSIS"
  print ".I /etc/vigil/vigil.toml"
  print ".SH DESCRIPTION"
  header = 1
}
/^#/ {
  line = $0
  sub(/^# ?/, "", line)
  if (header) {
    if (line == "") { print ".PP"; next }
    if (line ~ /^  /) { sub(/^ +/, "", line); print ".IP\n.B " text(line); print ".PP"; next }
    if (line ~ /^\/etc\/vigil\/vigil.toml:/) next
    print text(line)
    next
  }
  if (nkeys > 0) flush()
  # Lines indented past "# " (an example) are set as they are.
  if (line ~ /^  /) {
    sub(/^  /, "", line)
    if (!verbatim) { comment[++ncomment] = ".nf"; verbatim = 1 }
  } else if (line != "" && verbatim) {
    comment[++ncomment] = ".fi"; verbatim = 0
  }
  comment[++ncomment] = line == "" ? ".sp" : text(line)
  next
}
/^\[/ {
  flush()
  if (header) { header = 0; print ".SH KEYS" }
  ncomment = 0; verbatim = 0
  print ".SS " esc($0)
  next
}
/^[a-z_]+ *=/ {
  key = $0
  name = key; sub(/ *=.*/, "", name)
  value = key; sub(/^[^=]*= */, "", value)
  keys[++nkeys] = "\\fB" esc(name) "\\fR = " esc(value)
  next
}
/^$/ { flush(); ncomment = 0 }
END {
  flush()
  print ".SH FILES"
  print ".TP"
  print ".I /etc/vigil/vigil.toml"
  print "The file vigild reads at start and on SIGHUP; another with"
  print ".BR \"vigild \\-\\-config\" ."
  print ".SH SEE ALSO"
  print ".BR vigild (8),"
  print ".BR vigilctl (8)"
}

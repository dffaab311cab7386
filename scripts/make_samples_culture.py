"""Generate the sample deliveries of the department of culture, sports and tourism (``culture_tourism``).

    .kho/venvs/main/bin/python scripts/make_samples_culture.py

Deterministic: running it twice writes the same bytes. The content is synthetic but plausible for Tuyên
Quang after its merger with Hà Giang (2025 code 08): site names, communes of the 2025 list (checked here
against ``ref_admin_units_2025.csv``), coordinates within a few km of the real places. It is not an
official register.

- ``samples/tourist_sites/api/tourist-sites.json``: the records the department's site register API
  serves (``demo/agency_api.py`` pages them at ``/v1/tourist-sites``). Communes are written the way clerks
  type them: "Xã Tân Trào", "Tân Trào", "phường Minh Xuân", once without accents ("Lung Cu").
- ``samples/intangible_heritage/*.csv``: the province's list of intangible cultural heritage, exported by
  the department's old desktop program, the same 41 elements in each of the encodings such programs wrote:
  TCVN3 (ABC), VNI-Windows, Windows-1258 (tone marks as separate characters) and UTF-8 in decomposed form
  (NFD, as a Mac saves it). Comma separated, CRLF, a numbering column "STT" first.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kho.landing.legacy_vn import encode_as  # noqa: E402 (after the path is set)
from kho.landing.names import match_key  # noqa: E402

PROVINCE = "08"  # Tuyên Quang, 2025 list
API_FILE = REPO / "samples" / "tourist_sites" / "api" / "tourist-sites.json"
HERITAGE_DIR = REPO / "samples" / "intangible_heritage"

# id, name, category, commune as typed, address, lat, lng, ranking (None: not ranked), updated_at
SITES = [
    ("DL-0001", "Khu di tích lịch sử Tân Trào", "Di tích lịch sử", "Xã Tân Trào", "Thôn Tân Lập", 21.7790, 105.4302, "Di tích quốc gia đặc biệt", "2025-03-12T09:15:00+07:00"),
    ("DL-0002", "Lán Nà Nưa", "Di tích lịch sử", "Tân Trào", "Thôn Tân Lập", 21.7842, 105.4378, "Di tích quốc gia đặc biệt", "2025-03-12T09:16:00+07:00"),
    ("DL-0003", "Đình Tân Trào", "Di tích lịch sử", "Tân Trào", "Thôn Tân Trào", 21.7768, 105.4251, "Di tích quốc gia đặc biệt", "2025-03-12T09:17:00+07:00"),
    ("DL-0004", "Cây đa Tân Trào", "Di tích lịch sử", "Tân Trào", "Thôn Tân Trào", 21.7712, 105.4239, "Di tích quốc gia đặc biệt", "2025-03-12T09:18:00+07:00"),
    ("DL-0005", "Đình Hồng Thái", "Di tích lịch sử", "Xã Tân Trào", "Thôn Cả", 21.7851, 105.4418, "Di tích quốc gia đặc biệt", "2025-03-12T09:19:00+07:00"),
    ("DL-0006", "Khu du lịch quốc gia Tân Trào", "Khu du lịch", "Xã Tân Trào", None, 21.7755, 105.4280, "Khu du lịch quốc gia", "2025-05-20T14:00:00+07:00"),
    ("DL-0007", "Khu di tích Kim Quan", "Di tích lịch sử", "Xã Trung Sơn", "Thôn Khuôn Điển", 21.9731, 105.2342, "Di tích quốc gia đặc biệt", "2024-11-02T10:30:00+07:00"),
    ("DL-0008", "Căn cứ địa cách mạng Kim Bình", "Di tích lịch sử", "Xã Kim Bình", "Thôn Kim Bình", 22.2268, 105.1321, "Di tích quốc gia", "2024-11-02T10:31:00+07:00"),
    ("DL-0009", "Đền Hạ", "Di tích kiến trúc nghệ thuật", "Phường Minh Xuân", "Đường Lý Thái Tổ", 21.8207, 105.2165, "Di tích quốc gia", "2025-01-08T08:00:00+07:00"),
    ("DL-0010", "Đền Thượng", "Di tích kiến trúc nghệ thuật", "phường Minh Xuân", "Đường Tuệ Tĩnh", 21.8261, 105.2139, "Di tích cấp tỉnh", "2025-01-08T08:01:00+07:00"),
    ("DL-0011", "Thành nhà Mạc", "Di tích lịch sử", "Phường Minh Xuân", "Tổ 6", 21.8119, 105.2262, "Di tích quốc gia", "2025-01-08T08:02:00+07:00"),
    ("DL-0012", "Bảo tàng tỉnh Tuyên Quang", "Bảo tàng", "Phường Minh Xuân", "Đường 17/8", 21.8181, 105.2108, None, "2025-02-14T16:45:00+07:00"),
    ("DL-0013", "Quảng trường Nguyễn Tất Thành", "Điểm du lịch", "Phường Minh Xuân", None, 21.8229, 105.2181, None, "2025-02-14T16:46:00+07:00"),
    ("DL-0014", "Khu du lịch suối khoáng Mỹ Lâm", "Khu du lịch", "Phường Mỹ Lâm", "Tổ 10", 21.8832, 105.1771, "Khu du lịch cấp tỉnh", "2025-04-01T07:30:00+07:00"),
    ("DL-0015", "Khách sạn Sông Lô", "Cơ sở lưu trú", "Phường Nông Tiến", "Đường Chiến Thắng Sông Lô", 21.8102, 105.2297, "3 sao", "2025-06-10T11:00:00+07:00"),
    ("DL-0016", "Khu du lịch sinh thái Na Hang", "Khu du lịch", "Xã Nà Hang", "Tổ dân phố 4", 22.3518, 105.3862, "Khu du lịch cấp tỉnh", "2025-04-18T09:00:00+07:00"),
    ("DL-0017", "Hồ thủy điện Tuyên Quang", "Danh lam thắng cảnh", "Nà Hang", None, 22.3803, 105.4097, None, "2025-04-18T09:01:00+07:00"),
    ("DL-0018", "Làng văn hóa du lịch Thanh Tương", "Du lịch cộng đồng", "Xã Nà Hang", "Thôn Nà Khá", 22.3604, 105.3801, "Điểm du lịch", "2025-04-18T09:02:00+07:00"),
    ("DL-0019", "Động Song Long", "Danh lam thắng cảnh", "Xã Lâm Bình", "Thôn Khuổi Củng", 22.4509, 105.2488, "Di tích cấp tỉnh", "2025-04-18T09:03:00+07:00"),
    ("DL-0020", "Đình Thổ Bình", "Di tích kiến trúc nghệ thuật", "Xã Lâm Bình", "Thôn Nà Va", 22.4877, 105.2843, "Di tích quốc gia", "2025-04-18T09:04:00+07:00"),
    ("DL-0021", "Bản Khuổi Khon", "Du lịch cộng đồng", "Xã Thượng Lâm", "Thôn Khuổi Khon", 22.4702, 105.2201, "Điểm du lịch", "2025-04-18T09:05:00+07:00"),
    ("DL-0022", "Thác Bản Ba", "Danh lam thắng cảnh", "Xã Trung Hà", "Thôn Bản Ba", 22.2496, 105.2604, "Di tích cấp tỉnh", "2024-09-27T15:20:00+07:00"),
    ("DL-0023", "Cột cờ Lũng Cú", "Di tích lịch sử", "Xã Lũng Cú", "Thôn Lũng Cú", 23.3638, 105.3160, "Di tích quốc gia", "2025-05-02T10:00:00+07:00"),
    ("DL-0024", "Làng văn hóa du lịch Lô Lô Chải", "Du lịch cộng đồng", "Lung Cu", "Thôn Lô Lô Chải", 23.3592, 105.3218, "Điểm du lịch", "2025-05-02T10:01:00+07:00"),
    ("DL-0025", "Dinh thự họ Vương", "Di tích kiến trúc nghệ thuật", "Xã Sà Phìn", "Thôn Sà Phìn A", 23.2436, 105.2490, "Di tích quốc gia", "2025-05-02T10:02:00+07:00"),
    ("DL-0026", "Phố cổ Đồng Văn", "Điểm du lịch", "Xã Đồng Văn", "Tổ dân phố 3", 23.2786, 105.3608, "Điểm du lịch", "2025-05-02T10:03:00+07:00"),
    ("DL-0027", "Khách sạn Cao Nguyên Đá", "Cơ sở lưu trú", "Xã Đồng Văn", "Tổ dân phố 1", 23.2791, 105.3619, "2 sao", "2025-06-10T11:01:00+07:00"),
    ("DL-0028", "Đèo Mã Pì Lèng", "Danh lam thắng cảnh", "Xã Mèo Vạc", None, 23.2402, 105.4139, "Di tích quốc gia đặc biệt", "2025-05-02T10:04:00+07:00"),
    ("DL-0029", "Sông Nho Quế và hẻm Tu Sản", "Danh lam thắng cảnh", "Xã Sơn Vĩ", None, 23.2291, 105.4232, "Điểm du lịch", "2025-05-02T10:05:00+07:00"),
    ("DL-0030", "Chợ phong lưu Khâu Vai", "Điểm du lịch", "Xã Khâu Vai", "Thôn Khâu Vai", 23.0965, 105.5004, "Điểm du lịch", "2025-05-02T10:06:00+07:00"),
    ("DL-0031", "Núi đôi Quản Bạ", "Danh lam thắng cảnh", "Xã Quản Bạ", "Thôn Nặm Đăm", 23.0712, 104.9902, "Di tích quốc gia", "2025-05-02T10:07:00+07:00"),
    ("DL-0032", "Cổng trời Quản Bạ", "Điểm du lịch", "Quản Bạ", None, 23.0801, 105.0019, "Điểm du lịch", "2025-05-02T10:08:00+07:00"),
    ("DL-0033", "Làng văn hóa du lịch Nặm Đăm", "Du lịch cộng đồng", "Xã Quản Bạ", "Thôn Nặm Đăm", 23.0580, 104.9701, "Điểm du lịch", "2025-05-02T10:09:00+07:00"),
    ("DL-0034", "Homestay Du Già", "Cơ sở lưu trú", "Xã Du Già", "Thôn Lạn Xì", 22.9169, 105.1481, "1 sao", "2025-06-10T11:02:00+07:00"),
    ("DL-0035", "Ruộng bậc thang Hoàng Su Phì", "Danh lam thắng cảnh", "Xã Hoàng Su Phì", None, 22.7468, 104.6813, "Di tích quốc gia", "2025-05-02T10:10:00+07:00"),
    ("DL-0036", "Khu nghỉ dưỡng Hoàng Su Phì", "Cơ sở lưu trú", "Xã Hoàng Su Phì", "Thôn Tân Minh", 22.7442, 104.6790, "3 sao", "2025-06-10T11:03:00+07:00"),
    ("DL-0037", "Bảo tàng tỉnh Hà Giang", "Bảo tàng", "Phường Hà Giang 1", "Đường Trần Hưng Đạo", 22.8262, 104.9798, None, "2025-02-14T16:47:00+07:00"),
    ("DL-0038", "Khách sạn Sông Lô Hà Giang", "Cơ sở lưu trú", "Phường Hà Giang 1", "Đường Nguyễn Trãi", 22.8241, 104.9842, "4 sao", "2025-06-10T11:04:00+07:00"),
    ("DL-0039", "Khu du lịch sinh thái Hồ Noong", "Khu du lịch", "Phường Hà Giang 2", "Tổ 2", 22.8050, 104.9402, "Điểm du lịch", "2025-04-01T07:31:00+07:00"),
    ("DL-0040", "Thác Tiên Đèo Gió", "Danh lam thắng cảnh", "Xã Xuân Giang", "Thôn Nà Thác", 22.4672, 104.9788, "Điểm du lịch", "2024-09-27T15:21:00+07:00"),
    ("DL-0041", "Cánh đồng hoa Lũng Phìn", "Điểm du lịch", "Xã Lũng Phìn", None, 23.2162, 105.2705, None, "2025-05-02T10:11:00+07:00"),
    ("DL-0042", "Suối khoáng nóng Thần Tiên", "Khu du lịch", "Xã Vị Xuyên", "Thôn Thanh Sơn", 22.6682, 104.9847, "Khu du lịch cấp tỉnh", "2025-04-01T07:32:00+07:00"),
]  # fmt: skip

# id, name, type, community, communes (comma-separated, as typed), year inscribed, listing
HERITAGE = [
    ("DSPVT-001", "Thực hành Then của người Tày, Nùng", "Nghệ thuật trình diễn dân gian", "Tày, Nùng", "Thượng Lâm, Lâm Bình, Nà Hang", 2019, "UNESCO"),
    ("DSPVT-002", "Lễ hội Lồng Tồng của người Tày", "Lễ hội truyền thống", "Tày", "Thượng Lâm, Lâm Bình", 2015, "Quốc gia"),
    ("DSPVT-003", "Nghệ thuật Xòe Thái", "Nghệ thuật trình diễn dân gian", "Thái", "Nà Hang", 2021, "UNESCO"),
    ("DSPVT-004", "Hát Sình ca của người Cao Lan", "Nghệ thuật trình diễn dân gian", "Cao Lan", "Sơn Dương, Yên Sơn", 2019, "Quốc gia"),
    ("DSPVT-005", "Lễ cấp sắc của người Dao", "Tập quán xã hội và tín ngưỡng", "Dao", "Hồng Thái, Côn Lôn, Yên Hoa", 2016, "Quốc gia"),
    ("DSPVT-006", "Lễ hội Nhảy lửa của người Pà Thẻn", "Lễ hội truyền thống", "Pà Thẻn", "Tiên Yên, Tân Trịnh", 2016, "Quốc gia"),
    ("DSPVT-007", "Chợ phong lưu Khâu Vai", "Tập quán xã hội và tín ngưỡng", "Giáy, Nùng, Mông", "xã Khâu Vai", 2012, "Quốc gia"),
    ("DSPVT-008", "Lễ hội Gầu Tào của người Mông", "Lễ hội truyền thống", "Mông", "Đồng Văn, Mèo Vạc, Yên Minh", 2015, "Quốc gia"),
    ("DSPVT-009", "Nghề dệt lanh của người Mông", "Nghề thủ công truyền thống", "Mông", "Lùng Tám", 2018, "Quốc gia"),
    ("DSPVT-010", "Lễ cúng thần rừng của người Nùng", "Tập quán xã hội và tín ngưỡng", "Nùng", "Hoàng Su Phì, Thông Nguyên", 2020, "Quốc gia"),
    ("DSPVT-011", "Nghi lễ cầu mùa của người Lô Lô", "Tập quán xã hội và tín ngưỡng", "Lô Lô", "Lũng Cú", 2017, "Quốc gia"),
    ("DSPVT-012", "Lễ Tết Nhảy của người Dao đỏ", "Lễ hội truyền thống", "Dao", "Xín Mần, Nấm Dẩn", 2022, "Quốc gia"),
    ("DSPVT-013", "Hát Páo dung của người Dao", "Nghệ thuật trình diễn dân gian", "Dao", "Bắc Quang, Vĩnh Tuy", 2021, "Quốc gia"),
    ("DSPVT-014", "Hát Lượn của người Tày", "Nghệ thuật trình diễn dân gian", "Tày", "Chiêm Hóa, Kim Bình, Hòa An", 2023, "Quốc gia"),
    ("DSPVT-015", "Lễ hội Thành Tuyên", "Lễ hội truyền thống", "Kinh, Tày", "phường Minh Xuân, phường Nông Tiến, phường An Tường", 2017, "Quốc gia"),
    ("DSPVT-016", "Nghề làm giấy bản của người Dao", "Nghề thủ công truyền thống", "Dao", "Côn Lôn, Yên Hoa", 2019, "Quốc gia"),
    ("DSPVT-017", "Nghề rèn của người Mông", "Nghề thủ công truyền thống", "Mông", "Sủng Máng, Phố Bảng", 2019, "Quốc gia"),
    ("DSPVT-018", "Nghề dệt thổ cẩm của người Tày", "Nghề thủ công truyền thống", "Tày", "Lâm Bình, Thượng Lâm", 2022, "Quốc gia"),
    ("DSPVT-019", "Tri thức dân gian về thuốc nam của người Dao", "Tri thức dân gian", "Dao", "Thượng Nông, Hồng Thái", 2020, "Quốc gia"),
    ("DSPVT-020", "Nghệ thuật múa khèn của người Mông", "Nghệ thuật trình diễn dân gian", "Mông", "Mèo Vạc, Sơn Vĩ", 2021, "Quốc gia"),
    ("DSPVT-021", "Lễ cúng tổ tiên của người Pu Péo", "Tập quán xã hội và tín ngưỡng", "Pu Péo", "Yên Minh, Phố Bảng", 2018, "Quốc gia"),
    ("DSPVT-022", "Lễ cầu an bản của người Tày", "Tập quán xã hội và tín ngưỡng", "Tày", "Lâm Bình", 2024, "Quốc gia"),
    ("DSPVT-023", "Hát Sli của người Nùng", "Nghệ thuật trình diễn dân gian", "Nùng", "Hoàng Su Phì, Xín Mần", 2023, "Quốc gia"),
    ("DSPVT-024", "Chữ Nôm Dao", "Tiếng nói, chữ viết", "Dao", "Hồng Thái, Côn Lôn", 2024, "Quốc gia"),
    ("DSPVT-025", "Chữ Nôm Tày", "Tiếng nói, chữ viết", "Tày", "Chiêm Hóa, Hòa An", 2023, "Quốc gia"),
    ("DSPVT-026", "Truyện thơ Nôm Tày", "Ngữ văn dân gian", "Tày", "Chiêm Hóa, Kiên Đài", 2022, "Quốc gia"),
    ("DSPVT-027", "Lễ hội cầu mùa của người Giáy", "Lễ hội truyền thống", "Giáy", "Vị Xuyên, Việt Lâm", 2019, "Quốc gia"),
    ("DSPVT-028", "Lễ quét làng của người Dao đỏ", "Tập quán xã hội và tín ngưỡng", "Dao", "Hồ Thầu, Nậm Dịch", 2021, "Quốc gia"),
    ("DSPVT-029", "Nghề chạm bạc của người Dao", "Nghề thủ công truyền thống", "Dao", "Yên Minh, Du Già", 2022, "Quốc gia"),
    ("DSPVT-030", "Tri thức chế biến chè Shan tuyết", "Tri thức dân gian", "Dao, Tày", "Thượng Sơn, Cao Bồ", 2024, "Quốc gia"),
    ("DSPVT-031", "Múa chèo tàu của người Tày", "Nghệ thuật trình diễn dân gian", "Tày", "Tân Trào, Sơn Dương", 2020, "Quốc gia"),
    ("DSPVT-032", "Lễ hội xuống đồng của người Tày", "Lễ hội truyền thống", "Tày", "Bắc Quang, Hùng An", 2018, "Quốc gia"),
    ("DSPVT-033", "Nghề làm đàn tính của người Tày", "Nghề thủ công truyền thống", "Tày", "Lâm Bình", 2021, "Quốc gia"),
    ("DSPVT-034", "Lễ gội đầu của người Dao Tiền", "Tập quán xã hội và tín ngưỡng", "Dao", "Tân Quang", 2023, "Quốc gia"),
    ("DSPVT-035", "Trò chơi ném còn của người Tày, Nùng", "Tập quán xã hội và tín ngưỡng", "Tày, Nùng", "Thượng Lâm, Lâm Bình, Nà Hang", 2020, "Quốc gia"),
    ("DSPVT-036", "Hát Cọi của người Tày", "Nghệ thuật trình diễn dân gian", "Tày", "Chiêm Hóa, Bình An", 2022, "Quốc gia"),
    ("DSPVT-037", "Lễ cúng Bàn Vương của người Dao", "Tập quán xã hội và tín ngưỡng", "Dao", "Xuân Giang, Bằng Lang", 2019, "Quốc gia"),
    ("DSPVT-038", "Nghề nhuộm chàm của người Dao", "Nghề thủ công truyền thống", "Dao", "Yên Thành, Quang Bình", 2020, "Quốc gia"),
    ("DSPVT-039", "Hát Đúm của người Dao", "Nghệ thuật trình diễn dân gian", "Dao", "Bằng Hành, Liên Hiệp", 2024, "Quốc gia"),
    ("DSPVT-040", "Tri thức làm ruộng bậc thang của người La Chí", "Tri thức dân gian", "La Chí", "Bản Máy, Hoàng Su Phì", 2019, "Quốc gia"),
    ("DSPVT-041", "Hát Soọng cô của người Sán Dìu", "Nghệ thuật trình diễn dân gian", "Sán Dìu", "Sơn Dương", 2021, "Quốc gia"),
]  # fmt: skip

HERITAGE_HEADER = [
    "STT",
    "Mã di sản",
    "Tên di sản",
    "Loại hình",
    "Chủ thể",
    "Địa bàn",
    "Năm ghi danh",
    "Cấp ghi danh",
]
# file name -> how the old program wrote it
ENCODINGS = {
    "di_san_phi_vat_the_tcvn3.csv": "tcvn3",
    "di_san_phi_vat_the_vni.csv": "vni",
    "di_san_phi_vat_the_cp1258.csv": "cp1258",
    "di_san_phi_vat_the_utf8_nfd.csv": "utf-8-nfd",
}


def province_communes() -> set[str]:
    """Match keys of the province's communes in the 2025 list."""
    path = REPO / "dbt_project" / "seeds" / "reference" / "ref_admin_units_2025.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return {
            match_key(r["short_name"])
            for r in csv.DictReader(f)
            if r["level"] == "commune" and r["province_code"] == PROVINCE
        }


def check_communes() -> None:
    known = province_communes()
    typed = [site[3] for site in SITES] + [c for h in HERITAGE for c in h[4].split(",")]
    unknown = sorted({name.strip() for name in typed if match_key(name) not in known})
    if unknown:
        raise SystemExit(f"not communes of province {PROVINCE} in the 2025 list: {', '.join(unknown)}")


def api_records() -> list[dict]:
    keys = ("id", "name", "category", "commune", "address", "lat", "lng", "ranking", "updated_at")
    return [dict(zip(keys, site, strict=True)) for site in SITES]


def heritage_text() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HERITAGE_HEADER)
    for n, element in enumerate(HERITAGE, start=1):
        writer.writerow([n, *element])
    return out.getvalue()


def encoded(text: str, encoding: str) -> bytes:
    if encoding == "utf-8-nfd":
        return unicodedata.normalize("NFD", text).encode("utf-8")
    return encode_as(text, encoding)


def main() -> None:
    check_communes()
    API_FILE.parent.mkdir(parents=True, exist_ok=True)
    API_FILE.write_text(json.dumps(api_records(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    HERITAGE_DIR.mkdir(parents=True, exist_ok=True)
    text = heritage_text()
    for name, encoding in ENCODINGS.items():
        (HERITAGE_DIR / name).write_bytes(encoded(text, encoding))
    print(f"wrote {API_FILE.relative_to(REPO)} ({len(SITES)} sites) and {len(ENCODINGS)} heritage files")


if __name__ == "__main__":
    main()
